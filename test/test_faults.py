"""What the node does when its inputs misbehave (each case is in docs/reliability.md)."""
import math
import os
import subprocess
import sys
import time

from ik_interfaces.msg import JointLimit, ResultCode
from ik_interfaces.srv import ComputeResidual, SolveIK
from ik_service.resources import bundled_urdf_path
import numpy as np
import pytest
import rclpy
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from robots import planar_arm
from ros_helpers import call, NodeProcess, wait_for
from sensor_msgs.msg import JointState
from std_msgs.msg import String
from test_node import pose_target, UR5, UR5_PATH

HOME = np.array([0.1, -1.0, 1.0, 0.0, 0.5, 0.0])
LATCHED = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL,
                     reliability=ReliabilityPolicy.RELIABLE)


@pytest.fixture
def stale_node(ros):
    """Start a node that ignores joint positions older than 0.3 s."""
    proc = NodeProcess('-p', f'robot_description_file:={UR5_PATH}',
                       '-p', 'joint_state_timeout:=0.3',
                       '-r', '__ns:=/stale')
    residual = ros.create_client(ComputeResidual, '/stale/compute_residual')
    assert residual.wait_for_service(timeout_sec=30.0), proc.output()
    yield residual, proc
    assert proc.stop() == 0, proc.output()


def _residual_at_current_state(ros, client, q):
    tip = UR5.forward_kinematics(q, 'tool0')
    answer = call(ros, client, ComputeResidual.Request(pose_targets=[pose_target(tip)]))
    return max(abs(v) for v in answer.residual)


def test_joint_states_that_stop_arriving_are_dropped_after_the_timeout(ros, stale_node):
    residual, proc = stale_node
    q = np.array([0.3, -1.0, 1.2, -0.8, 0.6, 0.2])
    publisher = ros.create_publisher(JointState, '/stale/joint_states', 10)
    state = JointState(name=UR5.joint_names, position=list(q))
    wait_for(lambda: publisher.publish(state)
             or _residual_at_current_state(ros, residual, q) < 1e-9)
    # the publisher goes silent: after 0.3 s the seed falls back to the default (zeros)
    time.sleep(0.5)
    assert _residual_at_current_state(ros, residual, q) > 1e-3
    # it comes back: its values are used again
    wait_for(lambda: publisher.publish(state)
             or _residual_at_current_state(ros, residual, q) < 1e-9)
    ros.destroy_publisher(publisher)


def test_malformed_joint_states_are_ignored_and_logged(ros, stale_node):
    residual, proc = stale_node
    q = np.array([0.1, -0.9, 1.0, -0.7, 0.5, 0.1])
    publisher = ros.create_publisher(JointState, '/stale/joint_states', 10)
    good = JointState(name=UR5.joint_names, position=list(q))
    bad = JointState(name=UR5.joint_names, position=[9.0, 9.0])     # 6 names, 2 positions
    nan = JointState(name=UR5.joint_names, position=[math.nan] * 6)

    def publish_then_check():
        for _ in range(5):
            publisher.publish(good)
            publisher.publish(bad)
            publisher.publish(nan)
            time.sleep(0.01)
        # the bad and NaN messages after the good one leave its positions in place
        return _residual_at_current_state(ros, residual, q) < 1e-9

    # retried: a call that starts more than the 0.3 s timeout after the last good
    # message sees no current state at all
    wait_for(publish_then_check)
    wait_for(lambda: 'ignoring a JointState with 6 names and 2 positions' in proc.output())
    ros.destroy_publisher(publisher)


def test_description_publisher_that_started_first_and_one_that_restarts(ros):
    with open(UR5_PATH) as f:
        ur5 = f.read()
    first = rclpy.create_node('description_publisher_a')
    pub = first.create_publisher(String, '/restart/robot_description', LATCHED)
    pub.publish(String(data=ur5))               # before the node exists: transient local
    proc = NodeProcess('-r', '__ns:=/restart')
    try:
        solve = ros.create_client(SolveIK, '/restart/solve_ik')
        assert solve.wait_for_service(timeout_sec=30.0), proc.output()
        goal = pose_target(UR5.forward_kinematics(HOME, 'tool0'))
        wait_for(lambda: call(ros, solve, SolveIK.Request(pose_targets=[goal])).success)
        # the publisher process dies; the model stays
        first.destroy_node()
        assert call(ros, solve, SolveIK.Request(pose_targets=[goal])).success
        # a restarted publisher brings a different robot: the node switches to it
        second = rclpy.create_node('description_publisher_b')
        pub2 = second.create_publisher(String, '/restart/robot_description', LATCHED)
        pub2.publish(String(data=planar_arm()))
        wait_for(lambda: call(ros, solve, SolveIK.Request(pose_targets=[goal])).result_code.val
                 == ResultCode.INVALID_LINK_NAME)
        second.destroy_node()
    finally:
        assert proc.stop() == 0, proc.output()


CLIENT_THAT_VANISHES = """
import sys, os, rclpy
from ik_interfaces.msg import JointLimit, PoseTarget
from ik_interfaces.srv import SolveIK
rclpy.init()
node = rclpy.create_node('vanishing_client')
client = node.create_client(SolveIK, '/vanish/solve_ik')
assert client.wait_for_service(timeout_sec=30)
limits = [JointLimit(joint=n, lower=0.0, upper=0.01) for n in sys.argv[1:]]
request = SolveIK.Request(pose_targets=[PoseTarget(link='tool0')], joint_limits=limits,
                          mode=SolveIK.Request.MODE_GLOBAL, max_restarts=1000000)
request.pose_targets[0].pose.pose.position.x = 0.4
request.timeout.nanosec = 500_000_000
client.call_async(request)
rclpy.spin_once(node, timeout_sec=0.05)   # the request is on its way
os._exit(0)                               # and the client is gone before the answer
"""


# Over UDP only: a process that exits without closing Fast DDS leaves its shared-memory
# segments in /dev/shm for good (a few MB per run of the suite otherwise).
VANISHING_CLIENT_ENVIRONMENT = {**os.environ, 'FASTDDS_BUILTIN_TRANSPORTS': 'UDPv4'}


def test_a_client_that_disconnects_mid_call_does_not_disturb_the_node(ros):
    proc = NodeProcess('-p', f'robot_description_file:={bundled_urdf_path()}',
                       '-r', '__ns:=/vanish')
    try:
        solve = ros.create_client(SolveIK, '/vanish/solve_ik')
        assert solve.wait_for_service(timeout_sec=30.0), proc.output()
        for _ in range(3):
            gone = subprocess.run([sys.executable, '-c', CLIENT_THAT_VANISHES, *UR5.joint_names],
                                  capture_output=True, text=True, timeout=60,
                                  env=VANISHING_CLIENT_ENVIRONMENT)
            assert gone.returncode == 0, gone.stderr
        time.sleep(0.6)                          # the abandoned solves finish meanwhile
        goal = pose_target(UR5.forward_kinematics(HOME, 'tool0'))
        blocked = [JointLimit(joint=n, lower=0.0, upper=0.01) for n in UR5.joint_names]
        answer = call(ros, solve, SolveIK.Request(pose_targets=[goal], joint_limits=blocked))
        assert answer.result_code.val in (ResultCode.NO_IK_SOLUTION, ResultCode.TIMED_OUT)
        assert proc.process.poll() is None
        assert 'Traceback' not in proc.output() and 'internal error' not in proc.output()
    finally:
        assert proc.stop() == 0, proc.output()
