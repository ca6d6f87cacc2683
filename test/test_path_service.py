"""solve_ik_path over DDS: a path in, a JointTrajectory out, checked by forward kinematics."""

from builtin_interfaces.msg import Duration
from ik_interfaces.msg import ResultCode, Waypoint
from ik_interfaces.srv import SolveIKPath
from ik_service import conversions as conv
from ik_service.core import load_urdf_file
import numpy as np
import pytest
from robots import ARMS, robot_path
from ros_helpers import call, NodeProcess
from sensor_msgs.msg import JointState

UR5_PATH = robot_path(ARMS['ur5'][0])
UR5 = load_urdf_file(UR5_PATH)
START = np.array([0.3, -1.2, 1.4, -1.6, -1.5, 0.2])


@pytest.fixture(scope='module')
def path_service(ros):
    proc = NodeProcess('-p', f'robot_description_file:={UR5_PATH}', '-r', '__ns:=/paths',
                       '-p', 'limits.max_waypoints:=500')
    client = ros.create_client(SolveIKPath, '/paths/solve_ik_path')
    assert client.wait_for_service(timeout_sec=30.0), proc.output()
    yield client
    assert proc.stop() == 0, proc.output()


def _circle(count, radius=0.1, timed=False):
    start = UR5.forward_kinematics(START, 'tool0')
    out = []
    for k, angle in enumerate(np.linspace(0, 2 * np.pi, count)):
        pose = start.copy()
        pose[:3, 3] += radius * np.array([np.cos(angle) - 1, np.sin(angle), 0.0])
        w = Waypoint(pose_targets=[conv.pose_target_msg(pose, 'tool0', 'base_link')])
        if timed:
            w.time_from_start = Duration(sec=k)
        out.append((w, pose))
    return out


def _seed():
    return JointState(name=UR5.joint_names, position=START.tolist())


def test_a_circle_comes_back_as_a_continuous_trajectory_that_reaches_every_waypoint(
        ros, path_service):
    waypoints = _circle(120)
    answer = call(ros, path_service, SolveIKPath.Request(
        waypoints=[w for w, _ in waypoints], seed=_seed(), max_step=0.2))
    assert answer.success and answer.result_code.val == ResultCode.SUCCESS, answer.message
    points = answer.trajectory.points
    assert len(points) == 120 and list(answer.trajectory.joint_names) == UR5.joint_names
    for point, (_, pose) in zip(points, waypoints):
        reached = UR5.forward_kinematics(np.array(point.positions), 'tool0')
        assert np.abs(reached - pose).max() < 1e-5
    q = np.array([p.positions for p in points])
    steps = np.abs(np.diff(np.vstack([START, q]), axis=0)).max(axis=1)
    np.testing.assert_allclose(steps, answer.waypoint_steps, atol=1e-12)
    assert max(steps) <= 0.2 + 1e-12 and all(answer.waypoint_success)
    # untimed waypoints: 0.1 s apart
    assert [p.time_from_start.nanosec for p in points[:3]] == [100_000_000, 200_000_000,
                                                               300_000_000]


def test_time_stamps_come_from_the_waypoints_and_the_same_path_gives_the_same_answer(
        ros, path_service):
    request = SolveIKPath.Request(waypoints=[w for w, _ in _circle(30, timed=True)],
                                  seed=_seed())
    first, second = (call(ros, path_service, request) for _ in range(2))
    assert first.success, first.message
    assert [p.time_from_start.sec for p in first.trajectory.points] == list(range(30))
    assert [list(p.positions) for p in first.trajectory.points] == \
        [list(p.positions) for p in second.trajectory.points]


def test_an_unreachable_stretch_is_reported_per_waypoint(ros, path_service):
    start = UR5.forward_kinematics(START, 'tool0')
    out = np.concatenate([np.linspace(0, 1.5, 40), np.linspace(1.5, 0, 40)])
    waypoints = []
    for d in out:
        pose = start.copy()
        pose[0, 3] -= d
        waypoints.append(Waypoint(pose_targets=[conv.pose_target_msg(pose, 'tool0')]))
    answer = call(ros, path_service, SolveIKPath.Request(waypoints=waypoints, seed=_seed()))
    assert not answer.success and answer.result_code.val == ResultCode.NO_IK_SOLUTION
    assert 'first miss at waypoint' in answer.message
    ok = np.array(answer.waypoint_success)
    assert ok[:3].all() and ok[-3:].all() and not ok.all()
    assert max(answer.waypoint_steps) <= 0.5 + 1e-12


@pytest.mark.parametrize('request_fields, code, words', [
    ({'waypoints': []}, ResultCode.INVALID_GOAL_CONSTRAINTS, 'no waypoints'),
    ({'waypoints': [Waypoint()] * 501}, ResultCode.INVALID_GOAL_CONSTRAINTS,
     'limits.max_waypoints'),
    ({'max_step': -1.0}, ResultCode.INVALID_SOLVER_SETTINGS, 'max_step'),
    ({'max_step': float('nan')}, ResultCode.INVALID_SOLVER_SETTINGS, 'max_step'),
])
def test_bad_path_requests_get_a_code_and_a_message(ros, path_service, request_fields, code,
                                                    words):
    fields = {'waypoints': [w for w, _ in _circle(3)], **request_fields}
    answer = call(ros, path_service, SolveIKPath.Request(**fields))
    assert not answer.success and answer.result_code.val == code, answer.message
    assert words in answer.message


def test_a_bad_waypoint_is_named(ros, path_service):
    waypoints = [w for w, _ in _circle(5)]
    waypoints[3].pose_targets[0].link = 'no_such_link'
    answer = call(ros, path_service, SolveIKPath.Request(waypoints=waypoints))
    assert answer.result_code.val == ResultCode.INVALID_LINK_NAME
    assert answer.message.startswith('waypoints[3]:'), answer.message
