"""solve_ik_batch over DDS: many problems in, one answer each, as solve_ik gives them."""

from builtin_interfaces.msg import Duration
from ik_interfaces.msg import BatchProblem, ResultCode
from ik_interfaces.srv import SolveIK, SolveIKBatch
from ik_service import conversions as conv
from ik_service.core import JointLimits, load_urdf_file
import numpy as np
import pytest
from robots import ARMS, robot_path
from ros_helpers import call, NodeProcess, set_parameter
from sensor_msgs.msg import JointState

UR5_PATH = robot_path(ARMS['ur5'][0])
UR5 = load_urdf_file(UR5_PATH)
LIMITS = JointLimits.from_model(UR5)


@pytest.fixture(scope='module')
def services(ros):
    # a batch of more than 32 problems goes to two forked workers
    proc = NodeProcess('-p', f'robot_description_file:={UR5_PATH}', '-r', '__ns:=/batches',
                       '-p', 'limits.max_batch_problems:=50', '-p', 'limits.max_timeout:=3.0',
                       '-p', 'batch_workers:=2')
    batch = ros.create_client(SolveIKBatch, '/batches/solve_ik_batch')
    single = ros.create_client(SolveIK, '/batches/solve_ik')
    assert batch.wait_for_service(timeout_sec=30.0), proc.output()
    assert single.wait_for_service(timeout_sec=30.0), proc.output()
    yield batch, single
    assert proc.stop() == 0, proc.output()


def _problems(count, seed=0):
    """(BatchProblem, target pose (4, 4) in base_link) for poses of random configurations."""
    rng = np.random.default_rng(seed)
    goals, starts = LIMITS.sample(rng, np.zeros(6), count), LIMITS.sample(rng, np.zeros(6), count)
    base = UR5.forward_kinematics(np.zeros(6), 'base_link')
    out = []
    for k, (goal, start) in enumerate(zip(goals, starts)):
        pose = np.linalg.inv(base) @ UR5.forward_kinematics(goal, 'tool0')
        problem = BatchProblem(pose_targets=[conv.pose_target_msg(pose, 'tool0', 'base_link')],
                               seed=JointState(name=UR5.joint_names, position=start.tolist()),
                               random_seed=k)
        out.append((problem, pose))
    return out


def test_each_answer_is_what_solve_ik_gives_that_problem_whatever_the_order(ros, services):
    batch, single = services
    problems = _problems(40)
    budget = Duration(sec=1)        # generous: a loaded machine must not time a solve out
    answer = call(ros, batch, SolveIKBatch.Request(problems=[p for p, _ in problems],
                                                   timeout=budget), timeout=60.0)
    assert answer.success and answer.result_code.val == ResultCode.SUCCESS, answer.message
    assert list(answer.joint_names) == UR5.joint_names and len(answer.answers) == 40
    base = UR5.forward_kinematics(np.zeros(6), 'base_link')
    for a, (p, pose) in zip(answer.answers, problems):
        assert a.success and a.stop_reason == SolveIK.Response.STOP_CONVERGED, a.message
        reached = np.linalg.inv(base) @ UR5.forward_kinematics(np.array(a.positions), 'tool0')
        assert np.abs(reached - pose).max() < 1e-4
        alone = call(ros, single, SolveIK.Request(pose_targets=p.pose_targets, seed=p.seed,
                                                  random_seed=p.random_seed, timeout=budget))
        assert list(alone.solution.position) == list(a.positions)       # bit for bit
        assert list(alone.residual) == list(a.residual)
    reversed_answer = call(ros, batch, SolveIKBatch.Request(
        problems=[p for p, _ in reversed(problems)], timeout=budget), timeout=60.0)
    for a, b in zip(answer.answers, reversed(reversed_answer.answers)):
        assert list(a.positions) == list(b.positions)
    # solved in the node itself (batch_workers 1): the same answers
    assert set_parameter(ros, '/batches/ik_service', 'batch_workers', 1).successful
    try:
        in_node = call(ros, batch, SolveIKBatch.Request(problems=[p for p, _ in problems],
                                                        timeout=budget), timeout=60.0)
    finally:
        assert set_parameter(ros, '/batches/ik_service', 'batch_workers', 2).successful
    for a, b in zip(answer.answers, in_node.answers):
        assert list(a.positions) == list(b.positions) and list(a.residual) == list(b.residual)


def test_a_bad_problem_gets_its_own_error_and_the_others_are_solved(ros, services):
    batch, _ = services
    problems = [p for p, _ in _problems(4, seed=1)]
    problems[1].pose_targets[0].link = 'no_such_link'
    problems[2].pose_targets[0].pose.pose.orientation.w = 7.0
    answer = call(ros, batch, SolveIKBatch.Request(problems=problems))
    assert not answer.success and answer.result_code.val == ResultCode.NO_IK_SOLUTION
    assert answer.message == '2 of 4 problems solved'
    a = answer.answers
    assert a[0].success and a[3].success
    assert a[1].result_code.val == ResultCode.INVALID_LINK_NAME
    assert 'problems[1]' in a[1].message and 'no_such_link' in a[1].message
    assert a[2].result_code.val == ResultCode.INVALID_GOAL_CONSTRAINTS
    assert 'problems[2]' in a[2].message and 'quaternion' in a[2].message


def test_a_batch_ends_by_limits_max_timeout(ros, services):
    """
    Answer the problems not started by limits.max_timeout TIMED_OUT, on both workers.

    Out-of-reach targets search for 0.3 s each (global mode): 3 s lets about 10 of 40 run on
    each of the two workers; the others are answered as not started.
    """
    batch, _ = services
    problems = [p for p, _ in _problems(40, seed=2)]
    for p in problems:
        p.pose_targets[0].pose.pose.position.x = 5.0
    answer = call(ros, batch, SolveIKBatch.Request(problems=problems, max_restarts=100_000,
                                                   timeout=Duration(nanosec=300_000_000)),
                  timeout=30.0)
    codes = [a.result_code.val for a in answer.answers]
    assert codes[0] == ResultCode.NO_IK_SOLUTION and codes[-1] == ResultCode.TIMED_OUT
    assert set(codes) == {ResultCode.NO_IK_SOLUTION, ResultCode.TIMED_OUT}
    assert 10 < codes.count(ResultCode.NO_IK_SOLUTION) < 30    # more than one worker ran
    assert 'limits.max_timeout' in answer.answers[-1].message
    solve_time = answer.solve_time.sec + answer.solve_time.nanosec * 1e-9
    assert 2.9 < solve_time < 20.0      # it ran to the deadline, and not much past it


@pytest.mark.parametrize('request_fields, code, words', [
    ({'problems': []}, ResultCode.INVALID_GOAL_CONSTRAINTS, 'no problems'),
    ({'problems': [BatchProblem()] * 51}, ResultCode.INVALID_GOAL_CONSTRAINTS,
     'limits.max_batch_problems'),
    ({'mode': 9}, ResultCode.INVALID_SOLVER_SETTINGS, 'mode 9'),
    ({'timeout': Duration(sec=100)}, ResultCode.INVALID_SOLVER_SETTINGS, 'limits.max_timeout'),
])
def test_bad_batches_get_a_code_and_a_message(ros, services, request_fields, code, words):
    batch, _ = services
    fields = {'problems': [p for p, _ in _problems(2)], **request_fields}
    answer = call(ros, batch, SolveIKBatch.Request(**fields))
    assert not answer.success and answer.result_code.val == code, answer.message
    assert words in answer.message
