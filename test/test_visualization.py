"""What RViz users see: the node's markers and solution topics, checked by forward kinematics."""

import time

from geometry_msgs.msg import Vector3
from ik_interfaces.msg import IKObjective as IKObjectiveMsg
from ik_interfaces.srv import SolveIK
from ik_service import conversions as conv
from ik_service.core import load_urdf_file
from ik_service.launch_support import MARKERS_TOPIC, SOLUTION_TOPIC
from ik_service.resources import default_params_file
import numpy as np
import pytest
from rclpy.executors import SingleThreadedExecutor
from robots import ARMS, robot_path
from ros_helpers import call, Inbox, NodeProcess, wait_for
from sensor_msgs.msg import JointState
from visualization_msgs.msg import Marker, MarkerArray

UR5_PATH = robot_path(ARMS['ur5'][0])
UR5 = load_urdf_file(UR5_PATH)
GOAL_Q = np.array([0.3, -1.2, 1.4, -1.6, -1.5, 0.2])


@pytest.fixture(scope='module')
def viewer(ros):
    proc = NodeProcess('--params-file', default_params_file(), '-p',
                       f'robot_description_file:={UR5_PATH}', '-r', '__ns:=/viz')
    solve = ros.create_client(SolveIK, '/viz/solve_ik')
    assert solve.wait_for_service(timeout_sec=30.0), proc.output()
    # the topics the launch file and the RViz config use, in the node's namespace
    markers = Inbox(ros, MarkerArray, '/viz/' + MARKERS_TOPIC)
    solutions = Inbox(ros, JointState, '/viz/' + SOLUTION_TOPIC)
    yield solve, markers, solutions
    assert proc.stop() == 0, proc.output()


def spin_until(ros, predicate, timeout: float) -> bool:
    """Take ``ros``'s messages until ``predicate()`` holds; whether it did within ``timeout``."""
    executor = SingleThreadedExecutor()
    executor.add_node(ros)
    deadline = time.monotonic() + timeout
    try:
        while not predicate() and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
    finally:
        executor.remove_node(ros)
        executor.shutdown()
    return bool(predicate())


def _q(solution):
    by_name = dict(zip(solution.name, solution.position))
    return np.array([by_name[n] for n in UR5.joint_names])


def _xyz(p):
    return np.array([p.x, p.y, p.z])


def _by_ns(array):
    return {(m.ns, m.id): m for m in array.markers if m.action == Marker.ADD}


def _answer_with_markers(ros, solve, markers, request):
    """Call until a marker array arrives after the answer (the topic matches late)."""
    def answered():
        before = len(markers)
        answer = call(ros, solve, request)
        if not spin_until(ros, lambda: len(markers) > before, timeout=1.0):
            return None
        return answer, markers.messages[-1]
    return wait_for(answered, timeout=20.0)


def test_markers_show_targets_in_the_root_frame_and_what_the_answer_reached(ros, viewer):
    solve, markers, solutions = viewer
    base = UR5.forward_kinematics(GOAL_Q, 'base_link')
    tip = UR5.forward_kinematics(GOAL_Q, 'tool0')
    in_base = np.linalg.solve(base, tip)
    # an axis relative to a link that moves: drawn where that link is in the answer
    shoulder = UR5.forward_kinematics(GOAL_Q, 'shoulder_link')
    axis = shoulder[:3, :3].T @ UR5.forward_kinematics(GOAL_Q, 'forearm_link')[:3, 2]
    hinge = IKObjectiveMsg(link='forearm_link', ref_link='shoulder_link',
                           pos_type=IKObjectiveMsg.POS_NONE, rot_type=IKObjectiveMsg.ROT_AXIAL,
                           local_axis=Vector3(z=1.0),
                           target_axis=Vector3(x=axis[0], y=axis[1], z=axis[2]))
    request = SolveIK.Request(pose_targets=[conv.pose_target_msg(in_base, 'tool0', 'base_link')],
                              objectives=[hinge], random_seed=3)
    answer, array = _answer_with_markers(ros, solve, markers, request)
    assert answer.success, answer.message
    q = _q(answer.solution)
    reached_tip = UR5.forward_kinematics(q, 'tool0')
    assert array.markers[0].action == Marker.DELETEALL
    shown = _by_ns(array)
    assert {m.header.frame_id for m in shown.values()} == {UR5.root_link}
    # the target, drawn in the root frame, is where the request put it in base_link
    np.testing.assert_allclose(_xyz(shown['targets', 0].points[0]), tip[:3, 3], atol=1e-9)
    np.testing.assert_allclose(_xyz(shown['achieved', 0].points[0]), reached_tip[:3, 3],
                               atol=1e-9)
    # frame triads: segment k runs along column k of the rotation, 0.1 m long
    for ns, pose in (('target_frame', tip), ('achieved_frame', reached_tip)):
        points = [_xyz(p) for p in shown[ns, 0].points]
        for k in range(3):
            np.testing.assert_allclose(points[2 * k], pose[:3, 3], atol=1e-6)
            np.testing.assert_allclose(points[2 * k + 1] - points[2 * k], 0.1 * pose[:3, k],
                                       atol=1e-6)
    # the axial objective: arrows along the target axis and the forearm's z at the answer
    forearm = UR5.forward_kinematics(q, 'forearm_link')
    target_axis = UR5.forward_kinematics(q, 'shoulder_link')[:3, :3] @ axis
    for ns, axis in (('target_axis', target_axis), ('achieved_axis', forearm[:3, 2])):
        start, end = (_xyz(p) for p in shown[ns, 1].points)
        np.testing.assert_allclose((end - start) / np.linalg.norm(end - start), axis, atol=1e-6)
    assert ('targets', 1) not in shown          # no position part: no points drawn
    # the solution topic carries the answer
    assert spin_until(ros, lambda: len(solutions) > 0, timeout=5.0)
    np.testing.assert_allclose(_q(solutions.messages[-1]), q, atol=0)


def test_a_failed_answer_is_drawn_but_not_published_as_a_solution(ros, viewer):
    solve, markers, solutions = viewer
    far = np.eye(4)
    far[:3, 3] = (5.0, 0.0, 0.5)                      # 5 m away: out of reach
    published = len(solutions)
    answer, array = _answer_with_markers(
        ros, solve, markers,
        SolveIK.Request(pose_targets=[conv.pose_target_msg(far, 'tool0')]))
    assert not answer.success
    spin_until(ros, lambda: False, timeout=0.5)     # a solution message would be here by now
    shown = _by_ns(array)
    np.testing.assert_allclose(_xyz(shown['targets', 0].points[0]), far[:3, 3], atol=1e-12)
    reached = UR5.forward_kinematics(_q(answer.solution), 'tool0')
    np.testing.assert_allclose(_xyz(shown['achieved', 0].points[0]), reached[:3, 3], atol=1e-9)
    assert len(solutions) == published
