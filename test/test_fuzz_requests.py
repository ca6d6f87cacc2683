"""Property-based requests to the real node over DDS: every one answered, none wrongly.

Requests mix valid and invalid link and frame names, NaN/inf/huge numbers, zero and
non-unit quaternions, unknown constraint types and modes, seeds whose name and position
lengths differ, inverted limits and absurd settings, all solutions asked or not, and
branch labels real, malformed or huge. Each answer must carry a known result code and a
message; every success is checked by forward kinematics, and so is every one of its
all_solutions; the node must still be serving at the end.
"""
import math

from geometry_msgs.msg import Point, PoseStamped, Quaternion, Vector3
from hypothesis import given, HealthCheck, settings
from hypothesis import strategies as st
from ik_interfaces.msg import IKObjective as IKObjectiveMsg
from ik_interfaces.msg import JointLimit, PoseTarget, ResultCode
from ik_interfaces.srv import ComputeResidual, SolveIK
from ik_service import conversions as conv
from ik_service.core import IKError, load_urdf_string, ObjectiveSet
import numpy as np
import pytest
from robots import planar_arm
from ros_helpers import call, NodeProcess
from sensor_msgs.msg import JointState
from test_node import pose_target, q_of, UR5, UR5_PATH

CODES = {v for k, v in vars(ResultCode).items() if k.isupper() and isinstance(v, int)}
TRIED = {'solve': 0, 'residual': 0, 'solved': 0, 'planar': 0, 'planar_solutions': 0}
LINKS = UR5.link_names
JOINTS = UR5.joint_names
BAD_NAMES = ['', 'tool9', 'base', 'ELBOW_JOINT', 'wrist_3_link ', 'ünïcode', 'a' * 300]

finite = st.floats(-1.2, 1.2)
anything = st.one_of(finite, finite, finite, st.sampled_from([0.0, 1e308, -1e308, 1e-300]),
                     st.floats(allow_nan=True, allow_infinity=True))
names = st.one_of(st.sampled_from(LINKS), st.sampled_from(LINKS), st.sampled_from(BAD_NAMES))
joints = st.one_of(st.sampled_from(JOINTS), st.sampled_from(JOINTS), st.sampled_from(BAD_NAMES))
points = st.builds(Point, x=anything, y=anything, z=anything)
branches = st.one_of(st.just(''), st.just(''), st.just(''), st.sampled_from(
    [f'shoulder{a} elbow{b} wrist{c}' for a in '+-' for b in '+-' for c in '+-']
    + ['elbow+', 'shoulder+elbow-wrist+', ' ', 'ünïcode', 'x' * 300]))
vectors = st.builds(Vector3, x=anything, y=anything, z=anything)


@st.composite
def quaternions(draw):
    if draw(st.integers(0, 3)):
        v = np.array([draw(finite) for _ in range(4)])
        n = np.linalg.norm(v)
        v = v / n if n > 1e-3 else np.array([0.0, 0.0, 0.0, 1.0])
        return Quaternion(x=v[0], y=v[1], z=v[2], w=v[3])
    return Quaternion(x=draw(anything), y=draw(anything), z=draw(anything), w=draw(anything))


@st.composite
def pose_targets(draw):
    pose = PoseStamped()
    pose.header.frame_id = draw(st.one_of(st.just(''), names))
    pose.pose.position = draw(points)
    pose.pose.orientation = draw(quaternions())
    return PoseTarget(link=draw(names), pose=pose)


@st.composite
def reachable_targets(draw):
    """Draw the pose of a link at a random configuration, in the root or a link frame."""
    q = np.array([draw(st.floats(-2.5, 2.5)) for _ in JOINTS])
    link = draw(st.sampled_from(['tool0', 'wrist_3_link', 'wrist_2_link', 'forearm_link']))
    frame = draw(st.sampled_from(['', 'base_link', 'shoulder_link']))
    pose = UR5.forward_kinematics(q, link)
    if frame:
        pose = np.linalg.inv(UR5.forward_kinematics(q, frame)) @ pose
    return pose_target(pose, link, frame)


@st.composite
def objectives(draw):
    return IKObjectiveMsg(
        link=draw(names), ref_link=draw(st.one_of(st.just(''), names)),
        pos_type=draw(st.integers(0, 5)), rot_type=draw(st.integers(0, 4)),
        local_points=draw(st.lists(points, max_size=3)),
        target_points=draw(st.lists(points, max_size=3)),
        direction=draw(vectors), local_axis=draw(vectors), target_axis=draw(vectors),
        target_orientation=draw(quaternions()))


@st.composite
def joint_states(draw):
    chosen = draw(st.lists(joints, max_size=7))
    extra = draw(st.integers(-1, 1)) if draw(st.integers(0, 3)) == 0 else 0
    count = max(0, len(chosen) + extra)
    return JointState(name=chosen, position=[draw(anything) for _ in range(count)])


@st.composite
def solve_requests(draw):
    if draw(st.integers(0, 2)) == 0:       # a plain reachable request, maybe with odd extras
        seed = draw(st.one_of(st.just(JointState()), st.just(JointState()), joint_states()))
        return SolveIK.Request(pose_targets=[draw(reachable_targets())],
                               seed=seed, mode=draw(st.integers(0, 3)),
                               tolerance=draw(st.sampled_from([0.0, 1e-6, 1e-4])),
                               all_solutions=draw(st.booleans()), branch=draw(branches))
    request = SolveIK.Request(
        pose_targets=draw(st.lists(pose_targets(), max_size=2)),
        objectives=draw(st.lists(objectives(), max_size=2)),
        seed=draw(joint_states()), seed_mode=draw(st.integers(0, 3)),
        active_joints=draw(st.lists(joints, max_size=3)),
        bias=draw(joint_states()) if draw(st.integers(0, 4)) == 0 else JointState(),
        joint_limits=draw(st.lists(st.builds(JointLimit, joint=joints, lower=anything,
                                             upper=anything), max_size=2)),
        ignore_joint_limits=draw(st.booleans()), mode=draw(st.integers(0, 5)),
        tolerance=draw(st.one_of(st.just(0.0), anything)),
        max_iterations=draw(st.integers(0, 200)), max_restarts=draw(st.integers(0, 30)),
        max_deviation=draw(st.one_of(st.just(0.0), anything)),
        random_seed=draw(st.integers(0, 2**32 - 1)),
        all_solutions=draw(st.booleans()), branch=draw(branches))
    request.timeout.sec = draw(st.sampled_from([0, 0, 0, -1]))
    request.timeout.nanosec = draw(st.integers(0, 20_000_000))
    return request


@pytest.fixture(scope='module')
def fuzz_node(ros):
    proc = NodeProcess('-p', f'robot_description_file:={UR5_PATH}', '-p', 'timeout:=0.01',
                       '-r', '__ns:=/fuzz')
    solve = ros.create_client(SolveIK, '/fuzz/solve_ik')
    residual = ros.create_client(ComputeResidual, '/fuzz/compute_residual')
    for c in (solve, residual):
        assert c.wait_for_service(timeout_sec=30.0), proc.output()
    yield ros, solve, residual, proc
    assert proc.stop() == 0, proc.output()


def _expected_objectives(request):
    try:
        return ObjectiveSet(UR5, conv.objectives_from_request(request.pose_targets,
                                                              request.objectives))
    except IKError:
        return None


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(solve_requests())
def test_solve_ik_answers_every_request_and_never_wrongly(fuzz_node, request):
    client, solve, _, proc = fuzz_node
    TRIED['solve'] += 1
    answer = call(client, solve, request, timeout=10.0)
    code = answer.result_code.val
    assert code in CODES and answer.message
    assert answer.success == (code == ResultCode.SUCCESS)
    if not answer.success:
        return
    TRIED['solved'] += 1
    problem = _expected_objectives(request)
    assert problem is not None, 'success for a request the library refuses'
    tolerance = request.tolerance if request.tolerance != 0 else 1e-5
    assert len(answer.all_solutions) == len(answer.all_solution_branches)
    if request.branch:
        assert answer.branch == request.branch
    for q in [q_of(answer.solution)] + [q_of(s) for s in answer.all_solutions]:
        residual, _ = problem.evaluate(q[None], jacobian=False)
        assert problem.max_error(residual)[0] <= tolerance * (1 + 1e-9)
        for target in request.pose_targets:         # and independently, by forward kinematics
            pose = target.pose.pose
            goal = np.eye(4)
            goal[:3, 3] = [pose.position.x, pose.position.y, pose.position.z]
            if target.pose.header.frame_id:
                goal = UR5.forward_kinematics(q, target.pose.header.frame_id) @ goal
            reached = UR5.forward_kinematics(q, target.link)
            assert np.linalg.norm(reached[:3, 3] - goal[:3, 3]) <= tolerance * (1 + 1e-9)


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(pose_targets(), max_size=2), st.lists(objectives(), max_size=2), joint_states(),
       st.lists(joints, max_size=3), st.booleans())
def test_compute_residual_answers_every_request(fuzz_node, targets, objs, config, active, jac):
    client, _, residual, proc = fuzz_node
    TRIED['residual'] += 1
    request = ComputeResidual.Request(pose_targets=targets, objectives=objs, configuration=config,
                                      active_joints=active, compute_jacobian=jac)
    answer = call(client, residual, request, timeout=10.0)
    assert answer.result_code.val in CODES and answer.message
    if answer.success:
        problem = _expected_objectives(request)
        assert problem is not None and len(answer.residual) == problem.num_rows
        assert all(math.isfinite(v) for v in answer.residual)
        if jac:
            assert len(answer.jacobian) == answer.jacobian_rows * len(answer.jacobian_columns)


def test_the_node_still_serves_after_the_fuzzing(fuzz_node):
    client, solve, _, proc = fuzz_node
    assert proc.process.poll() is None, proc.output()
    goal = UR5.forward_kinematics(np.array([0.2, -1.0, 1.1, -0.5, 0.4, 0.3]), 'tool0')
    target = pose_target(goal)
    assert call(client, solve, SolveIK.Request(pose_targets=[target])).success
    print(f"\nrequest fuzz: {TRIED['solve']} SolveIK requests ({TRIED['solved']} solved, each "
          f"checked), {TRIED['residual']} ComputeResidual requests; node alive")
    if TRIED['solve']:
        assert TRIED['solve'] >= 200 and TRIED['residual'] >= 100 and TRIED['solved'] >= 20


@pytest.fixture(scope='module')
def planar_node(ros, tmp_path_factory):
    """Start a node on a planar 2R arm (links 1.0 and 0.8 m, joints within +-3 rad)."""
    path = tmp_path_factory.mktemp('planar') / 'planar_2r.urdf'
    path.write_text(planar_arm(lengths=(1.0, 0.8), limits=[(-3.0, 3.0)] * 2))
    proc = NodeProcess('-p', f'robot_description_file:={path}', '-p', 'timeout:=0.01',
                       '-r', '__ns:=/fuzz_planar')
    solve = ros.create_client(SolveIK, '/fuzz_planar/solve_ik')
    assert solve.wait_for_service(timeout_sec=30.0), proc.output()
    yield ros, solve, proc, load_urdf_string(path.read_text())
    assert proc.stop() == 0, proc.output()


# a point on a planar 2R chain: inside its annulus, on its rims, beyond them, off the plane
planar_coordinates = st.one_of(st.floats(-2.0, 2.0), st.sampled_from(
    [0.0, 0.2, -0.2, 1.8, -1.8, 1.8 + 1e-12, 1e6, -1e308]), anything)


@st.composite
def planar_points(draw):
    """Draw a point the tip reaches (half the time; at the joints' values), or any point."""
    if draw(st.booleans()):
        q1 = draw(st.floats(-3.0, 3.0))
        q2 = draw(st.sampled_from([0.0, 3.0, -3.0]) | st.floats(-3.0, 3.0))  # stretched, folded
        return (math.cos(q1) + 0.8 * math.cos(q1 + q2), math.sin(q1) + 0.8 * math.sin(q1 + q2),
                0.0)
    return (draw(planar_coordinates), draw(planar_coordinates),
            draw(st.one_of(st.just(0.0), planar_coordinates)))


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(planar_points(), st.integers(0, 3), st.booleans(),
       st.sampled_from(['', 'elbow+', 'elbow-']))
def test_a_point_on_a_planar_2r_arm_is_answered_and_never_wrongly(
        planar_node, point, mode, every, branch):
    """The point-alone closed form through the node: both elbows, or no solution said so."""
    client, solve, proc, arm = planar_node
    x, y, z = point
    TRIED['planar'] += 1
    request = SolveIK.Request(objectives=[IKObjectiveMsg(
        link='tip', rot_type=IKObjectiveMsg.ROT_NONE, local_points=[Point()],
        target_points=[Point(x=x, y=y, z=z)])], mode=mode, all_solutions=every, branch=branch)
    answer = call(client, solve, request, timeout=10.0)
    code = answer.result_code.val
    assert code in CODES and answer.message and len(answer.message) < 2000
    assert answer.success == (code == ResultCode.SUCCESS)
    assert len(answer.all_solutions) == len(answer.all_solution_branches) <= 2
    TRIED['planar_solutions'] += len(answer.all_solutions)
    for solution in ([answer.solution] if answer.success else []) + list(answer.all_solutions):
        q = q_of(solution, arm)
        assert np.all(np.abs(q) <= 3.0 + 1e-9)
        reached = arm.forward_kinematics(q, 'tip')[:3, 3]
        assert np.linalg.norm(reached - [x, y, z]) <= 1e-5 * (1 + 1e-9)


def test_the_planar_node_still_serves_after_the_fuzzing(planar_node):
    client, solve, proc, arm = planar_node
    assert proc.process.poll() is None, proc.output()
    goal = arm.forward_kinematics(np.array([0.4, 1.1]), 'tip')[:3, 3]
    answer = call(client, solve, SolveIK.Request(all_solutions=True, objectives=[IKObjectiveMsg(
        link='tip', rot_type=IKObjectiveMsg.ROT_NONE, local_points=[Point()],
        target_points=[Point(x=goal[0], y=goal[1], z=goal[2])])]))
    assert answer.success and len(answer.all_solutions) == 2, answer.message
    print(f"\nplanar 2R point fuzz: {TRIED['planar']} SolveIK requests, "
          f"{TRIED['planar_solutions']} of all_solutions checked; node alive")
    if TRIED['planar']:
        assert TRIED['planar'] >= 100 and TRIED['planar_solutions'] >= 10
