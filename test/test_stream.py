"""Teleoperation mode: a pose stream in, joint commands out, over DDS, checked by FK."""

import signal
import time

from geometry_msgs.msg import PoseStamped
from ik_interfaces.msg import StreamStatus
from ik_service import conversions as conv
from ik_service.core import load_urdf_file
import numpy as np
import pytest
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy
from robots import ARMS, robot_path
from ros_helpers import Inbox, NodeProcess
from sensor_msgs.msg import JointState
from trajectory_msgs.msg import JointTrajectory

UR5_PATH = robot_path(ARMS['ur5'][0])
UR5 = load_urdf_file(UR5_PATH)
START = np.array([0.3, -1.2, 1.4, -1.6, -1.5, 0.2])
VELOCITY = 2.0      # rad/s, the node's default stream.max_joint_velocity


@pytest.fixture(scope='module')
def stream(ros):
    proc = NodeProcess('-p', f'robot_description_file:={UR5_PATH}', '-r', '__ns:=/tele',
                       '-p', 'stream.target_topic:=target', '-p', 'stream.link:=tool0',
                       '-p', 'stream.trajectory_topic:=arm_controller/joint_trajectory')
    executor = SingleThreadedExecutor()
    executor.add_node(ros)
    commands = Inbox(ros, JointState, '/tele/ik_service/joint_command')
    statuses = Inbox(ros, StreamStatus, '/tele/ik_service/stream_status')
    trajectories = Inbox(ros, JointTrajectory, '/tele/arm_controller/joint_trajectory')
    targets = ros.create_publisher(PoseStamped, '/tele/target',
                                   QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT))
    states = ros.create_publisher(JointState, '/tele/joint_states', 10)

    def spin(seconds):
        """Take messages for ``seconds``; the robot follows: it reports each command."""
        end, echoed = time.monotonic() + seconds, len(commands)
        while time.monotonic() < end:
            executor.spin_once(timeout_sec=0.002)
            if len(commands) > echoed:
                echoed = len(commands)
                states.publish(commands.messages[-1])

    # the robot is at START: its joint states seed the first target
    deadline = time.monotonic() + 30
    while len(statuses) == 0 and time.monotonic() < deadline:
        states.publish(JointState(name=UR5.joint_names, position=START.tolist()))
        targets.publish(_pose(UR5.forward_kinematics(START, 'tool0')))
        spin(0.2)
    assert len(statuses), proc.output()
    yield targets, commands, statuses, trajectories, spin
    executor.remove_node(ros)
    executor.shutdown()
    assert proc.stop() == 0, proc.output()


def _pose(t):
    msg = PoseStamped()
    msg.header.frame_id = 'base_link'
    msg.pose = conv.pose_target_msg(t, 'tool0').pose.pose
    return msg


def _q(msg):
    by_name = dict(zip(msg.name, msg.position))
    return np.array([by_name[n] for n in UR5.joint_names])


def test_a_circle_streamed_at_100_hz_gives_smooth_commands_that_reach_the_targets(stream):
    targets, commands, statuses, trajectories, spin = stream
    first, before = len(commands), len(statuses)
    start = UR5.forward_kinematics(START, 'tool0')
    sent = []
    for angle in np.linspace(0, 2 * np.pi, 150):
        pose = start.copy()
        pose[:3, 3] += 0.05 * np.array([np.cos(angle) - 1, np.sin(angle), 0.0])
        sent.append(pose[:3, 3])
        targets.publish(_pose(pose))
        spin(0.01)
    spin(0.3)
    got = [_q(m) for m in commands.messages[first:]]
    status = statuses.messages[before:]
    assert len(got) >= 100 and len(status) >= len(got)     # a few may be dropped, not queued
    assert all(s.success for s in status), [s.message for s in status if not s.success]
    sent = np.array(sent)
    for q in got:       # every command puts the tool on one of the targets sent
        tip = UR5.forward_kinematics(q, 'tool0')[:3, 3]
        assert np.linalg.norm(sent - tip, axis=1).min() < 1e-5
    steps = np.abs(np.diff(np.vstack([START, got]), axis=0)).max(axis=1)
    assert steps.max() <= VELOCITY * 0.1 + 1e-9     # never more than the longest step allows
    np.testing.assert_allclose(got[-1], START, atol=1e-3)     # around and back: no branch change
    assert max(s.latency for s in status) < 0.05
    assert len(trajectories) and list(trajectories.messages[-1].points[0].positions) == \
        list(commands.messages[-1].position)


def test_an_unreachable_target_holds_the_last_command_and_says_why(stream):
    targets, commands, statuses, _, spin = stream
    held = len(commands)
    last = _q(commands.messages[-1])
    far = np.eye(4)
    far[:3, 3] = (3.0, 0.0, 0.5)
    before = len(statuses)
    targets.publish(_pose(far))
    spin(0.5)
    status = statuses.messages[before]
    assert not status.success and status.held and 'held the last command' in status.message
    assert status.position_error > 1.0
    np.testing.assert_array_equal(_q(commands.messages[held]), last)


def test_a_target_farther_than_one_step_is_approached_at_the_velocity_limit_then_met(stream):
    # the hand jumps 0.6 rad of shoulder pan away and stays: no step may take the arm
    # there (at most VELOCITY * 0.1 s = 0.2 rad), so the commands move toward it, then meet it
    targets, commands, statuses, _, spin = stream
    first, before = len(commands), len(statuses)
    last = _q(commands.messages[-1])
    goal = last + np.array([0.6, 0.0, 0.0, 0.0, 0.0, 0.0])
    pose = UR5.forward_kinematics(goal, 'tool0')
    started = time.monotonic()
    while time.monotonic() - started < 1.5:
        targets.publish(_pose(pose))
        spin(0.01)
    got = [_q(m) for m in commands.messages[first:]]
    status = statuses.messages[before:]
    toward = [s for s in status if not s.success and not s.held]
    assert toward and all(s.message.startswith('approaching') for s in toward)
    assert status[-1].success and not status[-1].held
    steps = np.abs(np.diff(np.vstack([last, got]), axis=0)).max(axis=1)
    assert steps.max() <= VELOCITY * 0.1 + 1e-9 and len(steps) >= 3
    np.testing.assert_allclose(got[-1], goal, atol=1e-4)        # the same branch
    tip = UR5.forward_kinematics(got[-1], 'tool0')
    assert np.abs(tip - pose).max() < 1e-5
    # on the way the commands go along the joint-space line from the last one to the goal
    for q in got:
        np.testing.assert_allclose(q - last, (q[0] - last[0]) / 0.6 * (goal - last), atol=1e-4)


def test_malformed_targets_are_refused_with_the_reason_and_hold_the_last_command(stream):
    targets, commands, statuses, _, spin = stream
    last = _q(commands.messages[-1])
    good = UR5.forward_kinematics(last, 'tool0')
    bad = {'position': ('nan', lambda m: setattr(m.pose.position, 'x', float('nan'))),
           'not a unit quaternion': ('norm', lambda m: setattr(m.pose.orientation, 'w', 0.0)),
           'unknown frame': ('nowhere', lambda m: setattr(m.header, 'frame_id', 'nowhere')),
           'huge position': ('within', lambda m: setattr(m.pose.position, 'y', 1e300))}
    for name, (words, spoil) in bad.items():
        msg = _pose(good)
        spoil(msg)
        before, sent = len(statuses), len(commands)
        targets.publish(msg)
        spin(0.3)
        assert len(statuses) > before, name
        status = statuses.messages[before]
        assert not status.success and status.held, name
        assert status.message.startswith('target refused') and words in status.message, \
            (name, status.message)
        np.testing.assert_array_equal(_q(commands.messages[sent]), last)
    before = len(statuses)
    targets.publish(_pose(good))
    spin(0.3)
    assert statuses.messages[before].success       # the stream goes on


@pytest.mark.parametrize('signum', [signal.SIGINT, signal.SIGTERM])
def test_the_node_stops_cleanly_while_the_stream_solves(ros, signum):
    """Unreachable targets at 500 Hz keep the stream thread solving when the signal comes."""
    ns = f'/quit{int(signum)}'
    proc = NodeProcess('-p', f'robot_description_file:={UR5_PATH}', '-r', f'__ns:={ns}',
                       '-p', 'stream.target_topic:=target', '-p', 'stream.link:=tool0')
    statuses = Inbox(ros, StreamStatus, f'{ns}/ik_service/stream_status')
    targets = ros.create_publisher(PoseStamped, f'{ns}/target',
                                   QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT))
    executor = SingleThreadedExecutor()
    executor.add_node(ros)
    far = np.eye(4)
    far[:3, 3] = (3.0, 0.0, 0.5)
    try:
        deadline = time.monotonic() + 30
        while len(statuses) < 20 and time.monotonic() < deadline:
            targets.publish(_pose(far))
            executor.spin_once(timeout_sec=0.002)
        assert len(statuses) >= 20, proc.output()
        proc.process.send_signal(signum)
        started = time.monotonic()
        while proc.process.poll() is None and time.monotonic() - started < 10:
            targets.publish(_pose(far))
            executor.spin_once(timeout_sec=0.002)
        assert proc.process.wait(timeout=10) == 0, proc.output()
        assert time.monotonic() - started < 1.5, proc.output()
        assert 'Traceback' not in proc.output(), proc.output()
    finally:
        executor.remove_node(ros)
        executor.shutdown()
        ros.destroy_publisher(targets)
        proc.stop()
