"""The node through its services, over DDS on loopback, started as its own process."""

import math
import threading

from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Point, Quaternion, Vector3
from ik_interfaces.msg import IKObjective as IKObjectiveMsg
from ik_interfaces.msg import JointLimit, ResultCode
from ik_interfaces.srv import ComputeResidual, SolveIK
from ik_service import conversions as conv
from ik_service.core import IKObjective, JointLimits, load_urdf_file, ObjectiveSet
from ik_service.resources import default_params_file
import numpy as np
import pytest
import rclpy
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from robots import ARMS, planar_arm, robot_path
from ros_helpers import call, NodeProcess, set_parameter, wait_for
from sensor_msgs.msg import JointState
from std_msgs.msg import String
import yaml

UR5_PATH = robot_path(ARMS['ur5'][0])
UR5 = load_urdf_file(UR5_PATH)


@pytest.fixture(scope='module')
def server(ros):
    proc = NodeProcess(
        '--params-file',
        default_params_file(),
        '-p',
        f'robot_description_file:={UR5_PATH}',
        '-r',
        '__ns:=/arm',
    )
    clients = (
        ros.create_client(SolveIK, '/arm/solve_ik'),
        ros.create_client(ComputeResidual, '/arm/compute_residual'),
    )
    for c in clients:
        assert c.wait_for_service(timeout_sec=30.0), proc.output()
    yield clients
    assert proc.stop() == 0, proc.output()


def pose_target(t, link='tool0', frame=''):
    return conv.pose_target_msg(t, link, frame)


def q_of(solution, model=UR5):
    by_name = dict(zip(solution.name, solution.position))
    return np.array([by_name[n] for n in model.joint_names])


def test_solve_a_pose_and_check_it_by_forward_kinematics(ros, server):
    solve, _ = server
    limits = JointLimits.from_model(UR5)
    rng = np.random.default_rng(0)
    for goal_q in limits.sample(rng, np.zeros(6), 5):
        goal = UR5.forward_kinematics(goal_q, 'tool0')
        answer = call(
            ros, solve, SolveIK.Request(pose_targets=[pose_target(goal, frame='base_link')])
        )
        assert answer.success and answer.result_code.val == ResultCode.SUCCESS, answer.message
        assert answer.stop_reason == SolveIK.Response.STOP_CONVERGED
        assert list(answer.solution.name) == UR5.joint_names
        reached = UR5.forward_kinematics(q_of(answer.solution), 'tool0')
        assert np.linalg.norm(reached[:3, 3] - goal[:3, 3]) <= 1e-5
        assert limits.contains(q_of(answer.solution))
        assert answer.objective_errors[0].position_error <= 1e-5
        config = yaml.safe_load(answer.effective_config)
        assert config['mode'] == 'global' and config['tolerance'] == 1e-5
        assert config['active_joints'] == UR5.joint_names and config['robot'] == UR5.name


def test_seed_comes_from_two_partial_joint_state_publishers(ros, server):
    solve, residual = server
    current = np.array([0.4, -1.1, 1.3, -0.9, -1.2, 0.6])
    reliable = ros.create_publisher(JointState, '/arm/joint_states', 10)
    best_effort = ros.create_publisher(
        JointState,
        '/arm/joint_states',
        QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT),
    )
    names = UR5.joint_names
    # the arm driver knows the first four joints and sends NaN for the fifth (no position
    # interface); a second driver sends the wrist joints
    first = JointState(name=names[:5], position=list(current[:4]) + [math.nan])
    second = JointState(name=names[4:], position=list(current[4:]))
    tip = UR5.forward_kinematics(current, 'tool0')
    probe = ComputeResidual.Request(pose_targets=[pose_target(tip)])

    def node_has_current_state():
        reliable.publish(first)
        best_effort.publish(second)
        return max(abs(v) for v in call(ros, residual, probe).residual) < 1e-9

    wait_for(node_has_current_state)

    answer = call(
        ros,
        solve,
        SolveIK.Request(pose_targets=[pose_target(tip)], mode=SolveIK.Request.MODE_LOCAL),
    )
    assert answer.success and answer.iterations == 0, answer.message
    np.testing.assert_allclose(q_of(answer.solution), current, atol=1e-12)
    # a partial request seed overrides the joint_states for the joints it names
    seed = JointState(name=['wrist_3_joint'], position=[0.9])
    answer = call(
        ros,
        solve,
        SolveIK.Request(
            pose_targets=[pose_target(tip)], seed=seed, mode=SolveIK.Request.MODE_LOCAL
        ),
    )
    assert answer.success and answer.iterations > 0
    ros.destroy_publisher(reliable)
    ros.destroy_publisher(best_effort)


def test_compute_residual_equals_the_library(ros, server):
    _, residual = server
    q = np.array([0.2, -0.9, 1.1, -1.4, 0.7, 0.3])
    goal = UR5.forward_kinematics(q + 0.1, 'tool0')
    hinge = IKObjectiveMsg(
        link='wrist_3_link',
        ref_link='shoulder_link',
        pos_type=IKObjectiveMsg.POS_FIXED,
        rot_type=IKObjectiveMsg.ROT_AXIAL,
        local_points=[Point(x=0.01, y=0.0, z=0.05)],
        target_points=[Point(x=0.3, y=0.1, z=0.2)],
        local_axis=Vector3(z=1.0),
        target_axis=Vector3(x=1.0, y=1.0),
    )
    answer = call(
        ros,
        residual,
        ComputeResidual.Request(
            pose_targets=[pose_target(goal)],
            objectives=[hinge],
            compute_jacobian=True,
            configuration=JointState(name=UR5.joint_names, position=list(q)),
        ),
    )
    assert answer.success, answer.message
    library = ObjectiveSet(
        UR5,
        [
            IKObjective.fixed_pose('tool0', goal[:3, :3], goal[:3, 3]),
            IKObjective.hinge(
                'wrist_3_link',
                [0.01, 0, 0.05],
                [0.3, 0.1, 0.2],
                [0, 0, 1],
                [1, 1, 0],
                ref_link='shoulder_link',
            ),
        ],
    )
    r, j = library.evaluate(q[None])
    np.testing.assert_allclose(answer.residual, r[0], atol=1e-9)
    assert answer.jacobian_rows == 11 and list(answer.jacobian_columns) == UR5.joint_names
    np.testing.assert_allclose(np.reshape(answer.jacobian, (11, 6)), j[0], atol=1e-9)
    assert answer.objective_errors[0].position_error == pytest.approx(
        np.linalg.norm(r[0][:3]), abs=1e-9
    )


def test_several_clients_at_once(ros, server):
    limits = JointLimits.from_model(UR5)
    goals = limits.sample(np.random.default_rng(3), np.zeros(6), 24)
    failures = []

    def client(k):
        node = rclpy.create_node(f'ik_service_parallel_{k}')
        try:
            cli = node.create_client(SolveIK, '/arm/solve_ik')
            assert cli.wait_for_service(timeout_sec=10)
            for goal_q in goals[k::4]:
                goal = UR5.forward_kinematics(goal_q, 'tool0')
                answer = call(
                    node, cli, SolveIK.Request(pose_targets=[pose_target(goal)]), timeout=20
                )
                reached = UR5.forward_kinematics(q_of(answer.solution), 'tool0')
                if not answer.success or np.linalg.norm(reached[:3, 3] - goal[:3, 3]) > 1e-5:
                    failures.append((k, answer.message))
        except Exception as e:  # reported below
            failures.append((k, repr(e)))
        finally:
            node.destroy_node()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not failures


def test_time_budget_is_honoured_below_a_second(ros, server):
    solve, _ = server
    goal = UR5.forward_kinematics(np.array([0.5, -1.0, 1.0, 0.0, 0.5, 0.0]), 'tool0')
    blocked = [JointLimit(joint=n, lower=-0.01, upper=0.01) for n in UR5.joint_names]
    request = SolveIK.Request(
        pose_targets=[pose_target(goal)],
        joint_limits=blocked,
        mode=SolveIK.Request.MODE_GLOBAL,
        max_restarts=100_000,  # limits.max_restarts
    )
    request.timeout.nanosec = 30_000_000  # 30 ms; MoveIt would truncate this to 0 s
    answer = call(ros, solve, request)
    assert not answer.success and answer.result_code.val == ResultCode.TIMED_OUT
    assert answer.stop_reason == SolveIK.Response.STOP_TIMEOUT
    used = answer.solve_time.sec + answer.solve_time.nanosec * 1e-9
    # the 30 ms were used (a whole-second truncation would have given 0, i.e. the node's
    # default): at least the budget, and nowhere near a second
    assert 0.030 <= used < 1.0, used
    assert np.all(np.abs(q_of(answer.solution)) <= 0.01 + 1e-12)  # best found, inside the limits
    assert 'time budget of 30 ms' in answer.message


def _bad_requests():
    good = pose_target(UR5.forward_kinematics(np.array([0.1, -1, 1, 0, 0.5, 0]), 'tool0'))

    def with_target(**changes):
        t = pose_target(UR5.forward_kinematics(np.array([0.1, -1, 1, 0, 0.5, 0]), 'tool0'))
        for k, v in changes.items():
            if k == 'link':
                t.link = v
            elif k == 'frame':
                t.pose.header.frame_id = v
            elif k == 'position':
                t.pose.pose.position = Point(x=v[0], y=v[1], z=v[2])
            elif k == 'orientation':
                t.pose.pose.orientation = Quaternion(x=v[0], y=v[1], z=v[2], w=v[3])
        return [t]

    nan, inf = math.nan, math.inf
    return {
        'unknown link': (
            SolveIK.Request(pose_targets=with_target(link='tool9')),
            ResultCode.INVALID_LINK_NAME,
            'tool0',
        ),
        'unknown frame': (
            SolveIK.Request(pose_targets=with_target(frame='world_frame')),
            ResultCode.FRAME_TRANSFORM_FAILURE,
            'world_frame',
        ),
        'empty link': (
            SolveIK.Request(pose_targets=with_target(link='')),
            ResultCode.INVALID_GOAL_CONSTRAINTS,
            'link is empty',
        ),
        'nan position': (
            SolveIK.Request(pose_targets=with_target(position=(nan, 0, 0))),
            ResultCode.INVALID_GOAL_CONSTRAINTS,
            'finite',
        ),
        'inf position': (
            SolveIK.Request(pose_targets=with_target(position=(0, inf, 0))),
            ResultCode.INVALID_GOAL_CONSTRAINTS,
            'finite',
        ),
        'zero quaternion': (
            SolveIK.Request(pose_targets=with_target(orientation=(0, 0, 0, 0))),
            ResultCode.INVALID_GOAL_CONSTRAINTS,
            'unit quaternion',
        ),
        'non-unit quaternion': (
            SolveIK.Request(pose_targets=with_target(orientation=(0, 0, 1, 1))),
            ResultCode.INVALID_GOAL_CONSTRAINTS,
            'norm',
        ),
        'nan quaternion': (
            SolveIK.Request(pose_targets=with_target(orientation=(nan, 0, 0, 1))),
            ResultCode.INVALID_GOAL_CONSTRAINTS,
            'finite',
        ),
        'no objectives': (
            SolveIK.Request(),
            ResultCode.INVALID_GOAL_CONSTRAINTS,
            'no pose_targets',
        ),
        'objective constrains nothing': (
            SolveIK.Request(objectives=[IKObjectiveMsg(link='tool0', pos_type=0, rot_type=0)]),
            ResultCode.INVALID_GOAL_CONSTRAINTS,
            'constrains nothing',
        ),
        'axial with zero axis': (
            SolveIK.Request(
                objectives=[
                    IKObjectiveMsg(
                        link='tool0',
                        rot_type=IKObjectiveMsg.ROT_AXIAL,
                        target_points=[Point(x=0.3)],
                    )
                ]
            ),
            ResultCode.INVALID_GOAL_CONSTRAINTS,
            'non-zero',
        ),
        'unknown position type': (
            SolveIK.Request(objectives=[IKObjectiveMsg(link='tool0', pos_type=9)]),
            ResultCode.INVALID_GOAL_CONSTRAINTS,
            'pos_type',
        ),
        'seed lengths differ': (
            SolveIK.Request(
                pose_targets=[good],
                seed=JointState(name=['elbow_joint', 'wrist_1_joint'], position=[0.1]),
            ),
            ResultCode.INVALID_ROBOT_STATE,
            'give one position per name',
        ),
        'seed unknown joint': (
            SolveIK.Request(pose_targets=[good], seed=JointState(name=['elbow'], position=[0.1])),
            ResultCode.INVALID_JOINT_NAME,
            'elbow_joint',
        ),
        'seed inf': (
            SolveIK.Request(
                pose_targets=[good], seed=JointState(name=['elbow_joint'], position=[inf])
            ),
            ResultCode.INVALID_ROBOT_STATE,
            'inf',
        ),
        'unknown active joint': (
            SolveIK.Request(pose_targets=[good], active_joints=['knee']),
            ResultCode.INVALID_JOINT_NAME,
            'knee',
        ),
        'inverted limit override': (
            SolveIK.Request(
                pose_targets=[good],
                joint_limits=[JointLimit(joint='elbow_joint', lower=1.0, upper=-1.0)],
            ),
            ResultCode.INVALID_SOLVER_SETTINGS,
            'lower <= upper',
        ),
        'negative tolerance': (
            SolveIK.Request(pose_targets=[good], tolerance=-1e-3),
            ResultCode.INVALID_SOLVER_SETTINGS,
            'tolerance',
        ),
        'nan tolerance': (
            SolveIK.Request(pose_targets=[good], tolerance=nan),
            ResultCode.INVALID_SOLVER_SETTINGS,
            'tolerance',
        ),
        'absurd tolerance': (
            SolveIK.Request(pose_targets=[good], tolerance=5.0),
            ResultCode.INVALID_SOLVER_SETTINGS,
            'tolerance',
        ),
        'negative timeout': (
            SolveIK.Request(pose_targets=[good], timeout=Duration(sec=-1)),
            ResultCode.INVALID_SOLVER_SETTINGS,
            'timeout',
        ),
        'absurd timeout': (
            SolveIK.Request(pose_targets=[good], timeout=Duration(sec=100000)),
            ResultCode.INVALID_SOLVER_SETTINGS,
            'timeout',
        ),
        'negative deviation': (
            SolveIK.Request(
                pose_targets=[good], mode=SolveIK.Request.MODE_NEARBY, max_deviation=-0.1
            ),
            ResultCode.INVALID_SOLVER_SETTINGS,
            'max_deviation',
        ),
        'unknown mode': (
            SolveIK.Request(pose_targets=[good], mode=7),
            ResultCode.INVALID_SOLVER_SETTINGS,
            'mode',
        ),
    }


BAD = _bad_requests()


@pytest.mark.parametrize('case', sorted(BAD))
def test_bad_requests_get_a_code_and_a_message_and_the_node_keeps_serving(ros, server, case):
    solve, _ = server
    request, code, fragment = BAD[case]
    answer = call(ros, solve, request)
    assert not answer.success
    assert answer.result_code.val == code, answer.message
    assert fragment.lower() in answer.message.lower(), answer.message
    good = pose_target(UR5.forward_kinematics(np.array([0.1, -1, 1, 0, 0.5, 0]), 'tool0'))
    assert call(ros, solve, SolveIK.Request(pose_targets=[good])).success


def test_bad_residual_requests_too(ros, server):
    _, residual = server
    answer = call(
        ros,
        residual,
        ComputeResidual.Request(
            objectives=[IKObjectiveMsg(link='tool0', target_points=[Point()])],
            configuration=JointState(name=['elbow_joint'], position=[1.0, 2.0]),
        ),
    )
    assert not answer.success and answer.result_code.val == ResultCode.INVALID_ROBOT_STATE


def test_parameters_are_validated_at_run_time(ros, server):
    assert not set_parameter(ros, '/arm/ik_service', 'tolerance', -1.0).successful
    assert not set_parameter(ros, '/arm/ik_service', 'mode', 'sideways').successful
    assert set_parameter(ros, '/arm/ik_service', 'tolerance', 2e-5).successful
    assert set_parameter(ros, '/arm/ik_service', 'tolerance', 1e-5).successful


def test_model_from_the_robot_description_topic_and_replaced_at_run_time(ros):
    proc = NodeProcess('-r', '__ns:=/topic_robot')
    try:
        solve = ros.create_client(SolveIK, '/topic_robot/solve_ik')
        assert solve.wait_for_service(timeout_sec=30.0), proc.output()
        goal = pose_target(UR5.forward_kinematics(np.array([0.1, -1, 1, 0, 0.5, 0]), 'tool0'))
        before = call(ros, solve, SolveIK.Request(pose_targets=[goal]))
        assert (
            before.result_code.val == ResultCode.NO_ROBOT_MODEL
            and 'robot_description' in before.message
        )

        latched = QoSProfile(
            depth=1,
            durability=DurabilityPolicy.TRANSIENT_LOCAL,
            reliability=ReliabilityPolicy.RELIABLE,
        )
        publisher = ros.create_publisher(String, '/topic_robot/robot_description', latched)
        with open(UR5_PATH) as f:
            publisher.publish(String(data=f.read()))
        answer = wait_for(
            lambda: (lambda a: a if a.success else None)(
                call(ros, solve, SolveIK.Request(pose_targets=[goal]))
            )
        )
        assert list(answer.solution.name) == UR5.joint_names

        # a new description replaces the model: now a planar arm with a link 'tip'
        publisher.publish(String(data=planar_arm()))
        point = IKObjectiveMsg(
            link='tip', rot_type=IKObjectiveMsg.ROT_NONE, target_points=[Point(x=1.0, y=1.5)]
        )
        answer = wait_for(
            lambda: (lambda a: a if a.success else None)(
                call(ros, solve, SolveIK.Request(objectives=[point]))
            )
        )
        assert list(answer.solution.name) == ['j1', 'j2', 'j3']
        old = call(ros, solve, SolveIK.Request(pose_targets=[goal]))
        assert old.result_code.val == ResultCode.INVALID_LINK_NAME

        # a broken description is refused and the model stays
        publisher.publish(String(data='<robot name="broken"><link name="a">'))
        assert call(ros, solve, SolveIK.Request(objectives=[point])).success
        wait_for(lambda: 'ignoring robot_description message' in proc.output())

        # and the robot_description parameter replaces it too
        with open(UR5_PATH) as f:
            assert set_parameter(
                ros, '/topic_robot/ik_service', 'robot_description', f.read()
            ).successful
        assert call(ros, solve, SolveIK.Request(pose_targets=[goal])).success
        assert not set_parameter(
            ros, '/topic_robot/ik_service', 'robot_description', '<robot/>'
        ).successful
        ros.destroy_publisher(publisher)
    finally:
        assert proc.stop() == 0, proc.output()


def test_all_solutions_of_a_ur5_pose_come_back_each_reaching_it(ros, server):
    solve, _ = server
    goal = np.array([0.4, -1.1, 1.3, -1.7, -1.4, 0.6])
    base = UR5.forward_kinematics(np.zeros(6), 'base_link')
    pose = np.linalg.inv(base) @ UR5.forward_kinematics(goal, 'tool0')
    seed = JointState(name=UR5.joint_names, position=(goal + 0.3).tolist())
    answer = call(ros, solve, SolveIK.Request(
        pose_targets=[pose_target(pose, frame='base_link')], seed=seed, all_solutions=True))
    assert answer.success, answer.message
    assert 'all_solutions: ' in answer.message and len(answer.all_solutions) > 8
    configurations = np.array([q_of(s) for s in answer.all_solutions])
    for q in configurations:        # each by FK, in the base link, inside the limits
        reached = np.linalg.inv(base) @ UR5.forward_kinematics(q, 'tool0')
        assert np.abs(reached - pose).max() < 1e-9
        assert (q >= UR5.lower - 1e-12).all() and (q <= UR5.upper + 1e-12).all()
    np.testing.assert_allclose(configurations[0], q_of(answer.solution), atol=1e-9)
    assert np.abs(configurations[0] - goal).max() < 1e-6        # the seed's branch first
    point = call(ros, solve, SolveIK.Request(objectives=[IKObjectiveMsg(
        link='tool0', position_type='fixed', local_points=[Point()],
        target_points=[Point(x=0.3, y=0.2, z=0.4)])], all_solutions=True))
    assert point.success and not point.all_solutions
    assert 'no closed form' in point.message


def test_an_answer_near_the_wrist_singularity_says_so(ros, server):
    solve, _ = server
    base = UR5.forward_kinematics(np.zeros(6), 'base_link')
    for wrist_2, near in ((1e-3, True), (0.8, False)):    # 1e-3 rad: axes 4 and 6 align
        goal = np.array([0.4, -1.1, 1.3, -1.7, wrist_2, 0.6])
        pose = np.linalg.inv(base) @ UR5.forward_kinematics(goal, 'tool0')
        answer = call(ros, solve, SolveIK.Request(
            pose_targets=[pose_target(pose, frame='base_link')], all_solutions=True,
            seed=JointState(name=UR5.joint_names, position=goal.tolist())))
        assert answer.success and np.abs(q_of(answer.solution) - goal).max() < 1e-6
        assert ('near the wrist singularity' in answer.message) == near, answer.message
        assert ('near a singular configuration' in answer.message) == near, answer.message


def test_a_named_branch_is_answered_and_a_missing_one_is_refused(ros, server):
    solve, _ = server
    goal = np.array([0.4, -1.1, 1.3, -1.7, -1.4, 0.6])
    pose = UR5.forward_kinematics(goal, 'tool0')
    nearest = call(ros, solve, SolveIK.Request(pose_targets=[pose_target(pose)],
                                               seed=JointState(name=UR5.joint_names,
                                                               position=goal.tolist()),
                                               all_solutions=True))
    assert nearest.branch == nearest.all_solution_branches[0] and nearest.branch
    other = next(b for b in nearest.all_solution_branches if b != nearest.branch)
    answer = call(ros, solve, SolveIK.Request(pose_targets=[pose_target(pose)],
                                              seed=nearest.solution, branch=other))
    assert answer.success and answer.branch == other, answer.message
    reached = UR5.forward_kinematics(q_of(answer.solution), 'tool0')
    assert np.abs(reached - pose).max() < 1e-9
    missing = call(ros, solve, SolveIK.Request(pose_targets=[pose_target(pose)],
                                               branch='shoulder0 elbow0 wrist0'))
    assert not missing.success and missing.result_code.val == ResultCode.NO_IK_SOLUTION
    assert 'this pose has: shoulder' in missing.message
    # five active joints: a closed form (EAIK's 5R family) without branch labels
    five = [n for n in UR5.joint_names if n != 'shoulder_pan_joint']
    held = np.r_[0.0, goal[1:]]        # shoulder_pan held at the seed's 0
    unlabelled = call(ros, solve, SolveIK.Request(
        pose_targets=[pose_target(UR5.forward_kinematics(held, 'tool0'))],
        seed=JointState(name=UR5.joint_names, position=held.tolist()), active_joints=five,
        branch=other))
    assert unlabelled.result_code.val == ResultCode.INVALID_SOLVER_SETTINGS, unlabelled.message
    assert 'has no branch labels' in unlabelled.message
