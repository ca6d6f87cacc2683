"""
The IK solver: closed-form cases on a planar arm, round trips on real robots, every mode.

Every solution is checked by forward kinematics, not by the solver's own residual.
"""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
import pickle

from ik_service.core import (
    IKObjective,
    InvalidConfigurationError,
    InvalidSettingsError,
    JointLimits,
    load_urdf_file,
    load_urdf_string,
    problem_is_unreachable,
    solve,
    solve_global,
    solve_nearby,
    SolverSettings,
    UnknownJointError,
)
from ik_service.core.errors import within_magnitude
from ik_service.core.objectives import ObjectiveSet
from ik_service.resources import bundled_urdf_path
import numpy as np
import pytest
from robots import ARMS, dual_arm, planar_arm, robot_path
from scipy.optimize import minimize
from scipy.spatial.transform import Rotation

PLANAR = load_urdf_string(planar_arm(limits=[(-3.0, 3.0), (0.0, 2.6), (0.0, 2.6)]))
UR5E = load_urdf_file(bundled_urdf_path())


def tip(model, q, link='tip'):
    return model.forward_kinematics(q, link)[:3, 3]


def rotation_angle(a, b):
    return np.linalg.norm(Rotation.from_matrix(a.T @ b).as_rotvec())


# ---------------------------------------------------------------- planar 3R, unit links
def test_reachable_point_is_met():
    target = np.array([1.5, 1.2, 0.0])
    result = solve(
        PLANAR, [IKObjective.point('tip', [0, 0, 0], target)], np.array([0.0, 0.3, 0.3])
    )
    assert result.success and result.stop_reason == 'converged'
    assert np.linalg.norm(tip(PLANAR, result.q) - target) <= 1e-5


def test_limits_that_block_the_local_descent_are_beaten_by_global_mode():
    target = np.array([-2.0, -0.5, 0.0])
    objective = [IKObjective.point('tip', [0, 0, 0], target)]
    seed = np.array([0.0, 0.3, 0.3])
    local = solve(PLANAR, objective, seed, mode='local')
    assert not local.success  # the direct descent is blocked by the limits
    found = solve(PLANAR, objective, seed, mode='global', random_seed=3)
    assert found.success
    assert np.linalg.norm(tip(PLANAR, found.q) - target) <= 1e-5
    assert JointLimits.from_model(PLANAR).contains(found.q)


@pytest.mark.parametrize('mode', ['local', 'global'])
def test_unreachable_point_returns_the_stretched_arm_on_the_ray(mode):
    arm = load_urdf_string(planar_arm())  # continuous joints: nothing else in the way
    target = np.array([3.0, 4.0, 0.0])  # 5 m away, reach is 3 m
    result = solve(
        arm,
        [IKObjective.point('tip', [0, 0, 0], target)],
        np.array([0.2, 0.4, -0.3]),
        mode=mode,
        settings=SolverSettings(timeout=1.0),
    )
    assert not result.success
    assert result.stop_reason != 'converged'
    on_ray = 3.0 * target / np.linalg.norm(target)
    assert np.linalg.norm(tip(arm, result.q) - on_ray) <= 1e-3
    assert result.objective_errors[0][0] == pytest.approx(2.0, abs=1e-3)


def test_global_mode_finds_the_closest_configuration_of_an_unreachable_target():
    # Joints limited to [0, 2 pi] (as in Klampt's manual): from q = 0 the descent toward a
    # target 0.2 rad below the +x axis is stopped by the lower limits, 0.78 m away; the
    # closest configuration turns the first joint almost a full turn, 0.5 m away.
    arm = load_urdf_string(planar_arm(limits=[(0.0, 2 * np.pi)] * 3))
    target = 3.5 * np.array([np.cos(-0.2), np.sin(-0.2), 0.0])
    objective = [IKObjective.point('tip', [0, 0, 0], target)]
    local = solve(arm, objective, np.zeros(3), mode='local')
    found = solve(arm, objective, np.zeros(3), mode='global', random_seed=1)
    assert not local.success and not found.success
    assert found.stop_reason == 'unreachable' and local.stop_reason == 'unreachable'
    assert np.linalg.norm(tip(arm, local.q) - target) > 0.7
    assert np.linalg.norm(tip(arm, found.q) - target) == pytest.approx(0.5, abs=1e-3)
    assert JointLimits.from_model(arm).contains(found.q)


def test_provably_unreachable_target_fails_at_once_when_no_approximation_is_wanted():
    arm = load_urdf_string(planar_arm())
    objective = [IKObjective.point('tip', [0, 0, 0], [3.0, 4.0, 0.0])]
    assert problem_is_unreachable(arm, ObjectiveSet(arm, objective), 1e-5)
    assert not problem_is_unreachable(
        arm, ObjectiveSet(arm, [IKObjective.point('tip', [0, 0, 0], [2.9, 0, 0])]), 1e-5
    )
    result = solve(
        arm, objective, np.zeros(3), mode='global', settings=SolverSettings(approximate=False)
    )
    assert not result.success and result.stop_reason == 'unreachable' and result.iterations == 0


def test_a_result_survives_pickling_whole_and_writable():
    # batch workers send results back pickled (their arrays as bytes)
    arm = load_urdf_string(planar_arm())
    for target in ([1.5, 1.0, 0.0], [3.0, 4.0, 0.0]):        # met, and out of reach
        result = solve(arm, [IKObjective.point('tip', [0, 0, 0], target)], np.zeros(3))
        back = pickle.loads(pickle.dumps(result))
        for name, value in vars(result).items():
            if isinstance(value, np.ndarray):
                assert np.array_equal(getattr(back, name), value), name
            else:
                assert getattr(back, name) == value, name
        back.q[0] += 1.0
        assert back.q.dtype == np.float64 and back.residual.flags.writeable


# ---------------------------------------------------------------- real robots, 6-D poses
@pytest.mark.parametrize('robot', sorted(ARMS))
def test_pose_round_trips_on_real_robots(robot):
    relative, link = ARMS[robot]
    model = load_urdf_file(robot_path(relative))
    limits = JointLimits.from_model(model)
    rng = np.random.default_rng(11)
    for k in range(15):
        goal_q, seed = limits.sample(rng, np.zeros(model.num_dofs), 2)
        goal = model.forward_kinematics(goal_q, link)
        result = solve_global(
            model,
            [IKObjective.fixed_pose(link, goal[:3, :3], goal[:3, 3])],
            seed,
            settings=SolverSettings(tolerance=1e-6, timeout=0.5),
            random_seed=k,
        )
        assert result.success, (robot, k, result.stop_reason, result.max_error)
        reached = model.forward_kinematics(result.q, link)
        assert np.linalg.norm(reached[:3, 3] - goal[:3, 3]) <= 1e-5
        assert rotation_angle(reached[:3, :3], goal[:3, :3]) <= 1e-5
        assert limits.contains(result.q)


@pytest.mark.parametrize('delta', [0.0, 1e-4, 1e-3])
def test_targets_at_a_half_turn_are_solved_or_reported_failed_never_wrongly(delta):
    rng = np.random.default_rng(5)
    for axis in np.eye(3):
        target_r = Rotation.from_rotvec(axis * (np.pi - delta)).as_matrix()
        goal = IKObjective.fixed_pose('tool0', target_r, [0.35, 0.2, 0.3])
        result = solve_global(
            UR5E, [goal], rng.uniform(-3, 3, 6), settings=SolverSettings(timeout=0.5)
        )
        reached = UR5E.forward_kinematics(result.q, 'tool0')
        really_met = (
            np.linalg.norm(reached[:3, 3] - [0.35, 0.2, 0.3]) <= 1e-5
            and rotation_angle(reached[:3, :3], target_r) <= 1e-5
        )
        assert result.success == really_met
        assert result.success, 'these poses are within the UR5e workspace'


# ---------------------------------------------------------------- constraint kinds
PANDA = load_urdf_file(robot_path(ARMS['panda'][0]))
PANDA_Q = np.zeros(PANDA.num_dofs)
PANDA_Q[:7] = [0.3, -0.4, 0.2, -2.0, 0.1, 1.8, 0.5]


def test_hinge_is_met_and_leaves_the_rotation_about_the_axis_free():
    hand = PANDA.forward_kinematics(PANDA_Q, 'panda_hand')
    goal = IKObjective.hinge(
        'panda_hand', [0, 0, 0.1], hand[:3, :3] @ [0, 0, 0.1] + hand[:3, 3], [0, 0, 1], hand[:3, 2]
    )
    seed = PANDA_Q.copy()
    seed[:7] += [0.3, -0.2, 0.3, 0.2, -0.3, 0.2, 0.4]
    result = solve_global(PANDA, [goal], seed, settings=SolverSettings(tolerance=1e-7))
    assert result.success
    reached = PANDA.forward_kinematics(result.q, 'panda_hand')
    assert (
        np.linalg.norm(
            reached[:3, :3] @ [0, 0, 0.1]
            + reached[:3, 3]
            - (hand[:3, :3] @ [0, 0, 0.1] + hand[:3, 3])
        )
        <= 1e-6
    )
    assert np.arccos(np.clip(reached[:3, 2] @ hand[:3, 2], -1, 1)) <= 1e-6
    assert len(result.residual) == 5


def test_surface_keeps_the_point_on_the_plane_and_the_axis_aligned():
    normal = np.array([0.0, 0.0, 1.0])
    goal = IKObjective.surface(
        'panda_hand', [0, 0, 0.1], [0.5, 0.1, 0.2], normal, [0, 0, 1], [0, 0, -1]
    )
    result = solve_global(PANDA, [goal], PANDA_Q, settings=SolverSettings(tolerance=1e-7))
    assert result.success
    reached = PANDA.forward_kinematics(result.q, 'panda_hand')
    point = reached[:3, :3] @ [0, 0, 0.1] + reached[:3, 3]
    assert abs(point[2] - 0.2) <= 1e-6
    assert reached[:3, 2] @ [0, 0, -1] >= np.cos(1e-6)


def test_point_on_a_line():
    goal = IKObjective.on_line('panda_hand', [0, 0, 0], [0.4, -0.2, 0.5], [1, 1, 0])
    result = solve(PANDA, [goal], PANDA_Q)
    assert result.success
    p = tip(PANDA, result.q, 'panda_hand') - [0.4, -0.2, 0.5]
    d = np.array([1, 1, 0]) / np.sqrt(2)
    assert np.linalg.norm(p - (p @ d) * d) <= 1e-5


DUAL = load_urdf_string(dual_arm())


def test_two_objectives_on_two_links_at_once():
    left, right = np.array([0.5, 0.3, 0.9]), np.array([0.45, -0.35, 0.6])
    goals = [
        IKObjective.point('left_tip', [0, 0, 0], left),
        IKObjective.point('right_tip', [0, 0, 0], right),
    ]
    result = solve_global(DUAL, goals, np.zeros(DUAL.num_dofs))
    assert result.success
    assert np.linalg.norm(tip(DUAL, result.q, 'left_tip') - left) <= 1e-5
    assert np.linalg.norm(tip(DUAL, result.q, 'right_tip') - right) <= 1e-5
    assert len(result.active_joints) == 7  # the torso and both arms


def test_relative_objective_places_one_hand_in_the_other_hands_frame():
    goal_q = np.array([0.3, 0.8, -1.2, 1.5, 1.0, 1.1, -1.4])  # torso, then each arm in tree order
    rel = np.linalg.inv(DUAL.forward_kinematics(goal_q, 'right_tip')) @ DUAL.forward_kinematics(
        goal_q, 'left_tip'
    )
    goal = IKObjective.fixed_pose('left_tip', rel[:3, :3], rel[:3, 3], ref_link='right_tip')
    result = solve_global(
        DUAL, [goal], np.full(DUAL.num_dofs, 0.1), settings=SolverSettings(tolerance=1e-7)
    )
    assert result.success
    achieved = np.linalg.inv(
        DUAL.forward_kinematics(result.q, 'right_tip')
    ) @ DUAL.forward_kinematics(result.q, 'left_tip')
    np.testing.assert_allclose(achieved, rel, atol=1e-6)


UR5_ERD = load_urdf_file(robot_path(ARMS['ur5'][0]))    # root 'world', arm base 'base_link'


@pytest.mark.parametrize('frame', ['base_link', 'base'])     # 'base': a half turn about z
def test_targets_in_a_base_link_below_the_root_are_solved_and_reported_in_that_frame(frame):
    goal_q = np.array([0.4, -1.1, 1.3, -1.5, -1.4, 0.3])
    base = UR5_ERD.forward_kinematics(goal_q, frame)
    in_base = np.linalg.inv(base) @ UR5_ERD.forward_kinematics(goal_q, 'tool0')
    goal = IKObjective.fixed_pose('tool0', in_base[:3, :3], in_base[:3, 3], ref_link=frame)
    problem = ObjectiveSet(UR5_ERD, [goal])
    result = solve_global(UR5_ERD, problem, np.zeros(6), random_seed=3)
    reached = np.linalg.inv(base) @ UR5_ERD.forward_kinematics(result.q, 'tool0')
    assert result.success and np.abs(reached - in_base).max() < 1e-5
    # the residual rows are those of the objective as given (base_link frame)
    np.testing.assert_allclose(result.residual,
                               problem.evaluate(result.q[None], False)[0][0], atol=1e-12)
    # the same target in the root frame gives the same answer (the frame is folded in)
    in_root = UR5_ERD.forward_kinematics(goal_q, 'tool0')
    twin = solve_global(UR5_ERD, [IKObjective.fixed_pose('tool0', in_root[:3, :3],
                                                         in_root[:3, 3])],
                        np.zeros(6), random_seed=3)
    np.testing.assert_allclose(result.q, twin.q, atol=1e-6)


def test_an_axis_only_objective_in_a_base_link_below_the_root():
    # no position part and no points (as a message gives them), a reference frame folded
    # into the root frame
    goal_q = np.array([0.4, -1.1, 1.3, -1.5, -1.4, 0.3])
    base = UR5_ERD.forward_kinematics(goal_q, 'base')
    axis = base[:3, :3].T @ UR5_ERD.forward_kinematics(goal_q, 'tool0')[:3, 2]
    goal = IKObjective('tool0', 'base', position='none', local_points=(), target_points=(),
                       rotation='axial', local_axis=[0, 0, 1], target_axis=axis)
    result = solve(UR5_ERD, [goal], np.zeros(6))
    reached = base[:3, :3].T @ UR5_ERD.forward_kinematics(result.q, 'tool0')[:3, 2]
    assert result.success and np.abs(reached - axis).max() < 1e-5


def test_a_torso_held_still_is_a_fixed_frame_for_its_targets():
    seed = np.zeros(DUAL.num_dofs)
    seed[DUAL.joint_id('torso_yaw')] = 0.7
    arm = ['left_j1', 'left_j2', 'left_j3']
    torso = DUAL.forward_kinematics(seed, 'torso')
    far = IKObjective.point('left_tip', [0, 0, 0], [3.0, 0.0, 0.0], ref_link='torso')
    result = solve(DUAL, [far], seed, active_joints=arm, mode='global',
                   settings=SolverSettings(approximate=False))
    # the reach test applies (before: a full descent and restarts until the budget)
    assert result.stop_reason == 'unreachable' and result.iterations == 0
    goal_q = seed.copy()
    goal_q[[DUAL.joint_id(j) for j in arm]] = [0.4, -0.6, 1.1]
    in_torso = np.linalg.inv(torso) @ DUAL.forward_kinematics(goal_q, 'left_tip')
    near = IKObjective.point('left_tip', [0, 0, 0], in_torso[:3, 3], ref_link='torso')
    result = solve(DUAL, [near], seed, active_joints=arm, mode='global')
    assert result.success and result.q[DUAL.joint_id('torso_yaw')] == 0.7
    reached = np.linalg.inv(torso) @ DUAL.forward_kinematics(result.q, 'left_tip')
    assert np.abs(reached[:3, 3] - in_torso[:3, 3]).max() < 1e-5
    # the residual is in the frame the target was given in (the torso's, turned 0.7 rad)
    np.testing.assert_allclose(result.residual, reached[:3, 3] - in_torso[:3, 3], atol=1e-12)


# ---------------------------------------------------------------- active dofs, modes, limits
def test_inactive_joints_are_left_untouched():
    seed = np.array([0.1, -1.0, 1.2, -1.0, -1.4, 0.3])
    goal_q = seed + [0.2, 0.1, -0.2, 0, 0, 0]
    target = tip(UR5E, goal_q, 'wrist_1_link')
    active = ['shoulder_pan_joint', 'shoulder_lift_joint', 'elbow_joint']
    result = solve(
        UR5E, [IKObjective.point('wrist_1_link', [0, 0, 0], target)], seed, active_joints=active
    )
    assert result.success and result.active_joints == active
    np.testing.assert_array_equal(result.q[3:], seed[3:])
    with pytest.raises(UnknownJointError, match='elbow_joint'):
        solve(UR5E, [IKObjective.point('tool0', [0, 0, 0], target)], seed, active_joints=['elbow'])


def test_nearby_mode_never_moves_a_joint_more_than_the_deviation():
    rng = np.random.default_rng(8)
    limits = JointLimits.from_model(UR5E)
    solved = 0
    for _ in range(20):
        seed = rng.uniform(-2, 2, 6)
        # every goal is within the deviation of the seed: each must be solved
        goal_q = seed + rng.uniform(-0.1, 0.1, 6)
        goal = UR5E.forward_kinematics(goal_q, 'tool0')
        result = solve_nearby(
            UR5E, [IKObjective.fixed_pose('tool0', goal[:3, :3], goal[:3, 3])], seed, 0.15
        )
        assert np.abs(result.q - seed).max() <= 0.15 + 1e-12
        assert limits.contains(result.q)
        solved += result.success
    assert solved == 20


def test_nearby_box_is_around_the_seed_as_given_not_clipped():
    # shoulder_lift's limits narrowed to [-1, 1]: a seed 0.05 outside may move 0.1 from
    # where it is (into [0.95, 1]), a seed 0.5 outside cannot reach the limits at all
    limits = JointLimits.from_model(UR5E, overrides={'shoulder_lift_joint': (-1.0, 1.0)})
    goal_q = np.array([0.3, 0.9, 1.0, -1.3, -1.5, 0.4])
    goal = UR5E.forward_kinematics(goal_q, 'tool0')
    objective = [IKObjective.point('tool0', [0, 0, 0], goal[:3, 3])]
    seed = goal_q.copy()
    seed[1] = 1.05
    result = solve_nearby(UR5E, objective, seed, 0.1, limits=limits)
    assert 0.95 - 1e-12 <= result.q[1] <= 1.0
    seed[1] = 1.5
    with pytest.raises(InvalidConfigurationError, match='shoulder_lift_joint'):
        solve_nearby(UR5E, objective, seed, 0.1, limits=limits)


def test_solutions_stay_inside_custom_limits():
    limits = JointLimits.from_model(
        UR5E, overrides={'elbow_joint': (0.5, 1.5), 'wrist_2_joint': (-2.0, -1.0)}
    )
    goal_q = np.array([0.3, -1.2, 1.0, -1.3, -1.5, 0.4])
    goal = UR5E.forward_kinematics(goal_q, 'tool0')
    result = solve_global(
        UR5E,
        [IKObjective.fixed_pose('tool0', goal[:3, :3], goal[:3, 3])],
        np.zeros(6),
        limits=limits,
    )
    assert result.success and limits.contains(result.q)


def test_continuous_joints_end_within_pi_of_the_seed():
    arm = load_urdf_string(planar_arm())
    seed = np.array([10.0, -7.0, 20.0])
    result = solve(arm, [IKObjective.point('tip', [0, 0, 0], [1.0, 1.5, 0.0])], seed)
    assert result.success
    assert np.all(np.abs(result.q - seed) <= np.pi)


def test_a_mimic_joints_leader_is_not_turned_toward_the_seed():
    # j2 follows the continuous j1 at half its value: a whole turn of j1 would turn j2 by
    # half a turn, so an answer with j1 4 rad from the seed (0) stays as it was found
    urdf = """<robot name="half"><link name="base"/><link name="l1"/><link name="l2"/>
      <link name="tip"/>
      <joint name="j1" type="continuous"><parent link="base"/><child link="l1"/>
        <axis xyz="0 0 1"/></joint>
      <joint name="j2" type="revolute"><parent link="l1"/><child link="l2"/>
        <origin xyz="0.5 0 0"/><axis xyz="0 0 1"/><mimic joint="j1" multiplier="0.5"/>
        <limit lower="-10" upper="10" effort="1" velocity="1"/></joint>
      <joint name="tip_joint" type="fixed"><parent link="l2"/><child link="tip"/>
        <origin xyz="0.4 0 0"/></joint></robot>"""
    arm = load_urdf_string(urdf)
    target = arm.forward_kinematics(np.array([4.0]), 'tip')[:3, 3]
    result = solve(arm, [IKObjective.point('tip', [0, 0, 0], target)], np.array([0.0]),
                   mode='global')
    assert result.success and result.q[0] == pytest.approx(4.0, abs=1e-4)
    reached = arm.forward_kinematics(result.q, 'tip')[:3, 3]
    assert np.linalg.norm(reached - target) < 1e-5
    np.testing.assert_allclose(result.residual, reached - target, atol=1e-12)


def test_wide_revolute_joint_is_shifted_toward_the_seed_only_inside_its_limits():
    goal_q = np.array([-0.7, -1.2, 1.0, -1.3, -1.5, 0.4])
    goal = UR5E.forward_kinematics(goal_q, 'tool0')
    objective = [IKObjective.fixed_pose('tool0', goal[:3, :3], goal[:3, 3])]
    near_upper = goal_q + [2 * np.pi - 0.05, 0, 0, 0, 0, 0]  # 5.53 rad, inside +-2 pi
    result = solve(UR5E, objective, near_upper)
    assert result.success and result.q[0] == pytest.approx(goal_q[0] + 2 * np.pi, abs=1e-5)
    # the elbow (+-pi) has no equivalent value 2 pi away inside its limits
    assert abs(result.q[2]) <= np.pi


def test_a_descent_to_the_edge_of_the_workspace_is_not_slowed_by_its_damping():
    # Baxter's left arm, a waypoint of a path leaving the workspace (bench/path_bench.py,
    # random smooth path, waypoint 63): the solution lies 0.4 rad away along a nearly
    # singular direction. Dividing the damping by 10 on every accepted step and
    # multiplying it by 10 on every rejected one alternated between a damping too small
    # and one too large, and the descent took 104 iterations; following the gain ratio, 42
    baxter = load_urdf_file(robot_path('baxter_description/urdf/baxter.urdf'))
    arm = ['left_s0', 'left_s1', 'left_e0', 'left_e1', 'left_w0', 'left_w1', 'left_w2']
    seed = np.zeros(baxter.num_dofs)
    seed[[baxter.joint_id(j) for j in arm]] = [
        -0.5709121619088608, -0.7844071755321033, -0.8226095496876702, 0.2891213258612816,
        1.600485729630077, 1.2373591407036433, -0.41114018165841953]
    position = np.array([0.980151633186165, 0.5677694931527264, 0.7066606167226195])
    rotation = np.array([[-0.4575844025629485, -0.6564602432434568, 0.5997303257063553],
                         [0.01817481163637623, 0.6674399661045424, 0.7444417827260568],
                         [-0.8889804220302555, 0.35154493409393456, -0.2934790768688621]])
    result = solve(baxter, [IKObjective.fixed_pose('left_gripper', rotation, position)], seed,
                   active_joints=arm, settings=SolverSettings(max_iterations=60))
    assert result.success
    pose = baxter.forward_kinematics(result.q, 'left_gripper')
    assert np.linalg.norm(pose[:3, 3] - position) <= 1e-5
    assert Rotation.from_matrix(pose[:3, :3] @ rotation.T).magnitude() <= 1e-5


def test_bias_pulls_a_redundant_arm_toward_the_bias_configuration():
    arm = load_urdf_string(planar_arm())
    objective = [IKObjective.point('tip', [0, 0, 0], [1.2, 1.6, 0.0])]
    seed = np.array([0.1, 0.2, 0.3])
    bias = np.array([1.5, -0.8, 1.0])
    plain = solve(arm, objective, seed)
    biased = solve(arm, objective, seed, bias=bias)
    assert plain.success and biased.success
    assert np.linalg.norm(biased.q - bias) < np.linalg.norm(plain.q - bias) - 0.1


def test_a_bias_leads_a_descent_from_a_singular_configuration_to_the_closest_solution():
    # xArm7 stretched to the edge of its workspace (a path's last waypoint before it left,
    # held out of reach), its next target 2 mm back inside (bench/path_bench.py, line out
    # and back): the arm must bend out of the stretch, and the solutions form a curve in
    # its null space. Pulled toward the configuration it starts from, the descent ends
    # next to the solution closest to it (found by constrained minimisation). With the
    # pull projected with the step's own damping it stalled 1e-3 short: left whole along
    # the directions the damping holds back, the pull undid each step.
    xarm7 = load_urdf_file(robot_path('xarm_description/urdf/xarm7.urdf'))
    start = np.array([-1.129495132260351, 0.10200641560430916, 0.9963680308541233,
                      2.720024970915018, -0.7412937719775677, 0.7585665383297014,
                      1.9975346763564898])
    position = np.array([0.20907923430373437, -0.09959327379123581, 0.9962331047440647])
    rotation = np.array([[-0.5923911985552807, 0.38155162078239824, 0.7095710172720997],
                         [-0.7921497450935008, -0.11529003479738098, -0.5993387933587477],
                         [-0.1468722207312835, -0.9171295265962943, 0.37054282103788966]])
    objectives = [IKObjective.fixed_pose('link_eef', rotation, position)]
    result = solve(xarm7, objectives, start, bias=start)
    assert result.success

    def error(q):
        pose = xarm7.forward_kinematics(q, 'link_eef')
        return np.concatenate([pose[:3, 3] - position,
                               Rotation.from_matrix(pose[:3, :3].T @ rotation).as_rotvec()])
    closest = minimize(lambda q: np.sum((q - start) ** 2), result.q, method='SLSQP',
                       constraints=[{'type': 'eq', 'fun': error}],
                       options={'ftol': 1e-14, 'maxiter': 500})
    assert closest.success and np.abs(error(closest.x)).max() < 1e-9
    nearest = np.linalg.norm(closest.x - start)
    assert np.linalg.norm(result.q - start) <= 1.05 * nearest
    plain = solve(xarm7, objectives, start)     # without the pull: 0.80 rad, 0.54 closest
    assert plain.success and np.linalg.norm(plain.q - start) > 1.3 * nearest


def test_feasibility_check_rejects_solutions_in_global_mode():
    target = np.array([1.2, 1.2, 0.0])
    objective = [IKObjective.point('tip', [0, 0, 0], target)]
    arm = load_urdf_string(planar_arm(limits=[(-3, 3)] * 3))
    result = solve_global(arm, objective, np.zeros(3), feasible=lambda q: q[1] < -0.2)
    assert result.success and result.q[1] < -0.2
    assert np.linalg.norm(tip(arm, result.q) - target) <= 1e-5


def test_a_feasibility_check_that_solves_again_does_not_disturb_the_solve():
    # the check runs a solve of the same shape between the two halves of an evaluation
    path, link = ARMS['ur5']
    model = load_urdf_file(robot_path(path))
    limits = JointLimits.from_model(model)
    goal, other = limits.sample(np.random.default_rng(8), np.zeros(model.num_dofs), 2)
    pose, other_pose = model.forward_kinematics(goal, link), model.forward_kinematics(other, link)
    checks = []

    def feasible(q):
        inner = solve_global(model, [IKObjective.fixed_pose(link, other_pose[:3, :3],
                                                            other_pose[:3, 3])], q)
        checks.append(inner.success)
        return len(checks) > 2            # the first two candidates are refused

    result = solve_global(model, [IKObjective.fixed_pose(link, pose[:3, :3], pose[:3, 3])],
                          np.zeros(model.num_dofs), feasible=feasible,
                          settings=SolverSettings(timeout=1.0))
    assert len(checks) >= 3 and all(checks)
    assert result.success
    reached = model.forward_kinematics(result.q, link)
    assert np.linalg.norm(reached[:3, 3] - pose[:3, 3]) <= 1e-5
    assert rotation_angle(reached[:3, :3], pose[:3, :3]) <= 1e-5


def test_same_request_and_random_seed_give_the_same_answer():
    goal_q = np.array([0.5, -1.0, 1.3, 0.2, 1.1, -0.4])
    goal = UR5E.forward_kinematics(goal_q, 'tool0')
    objective = [IKObjective.fixed_pose('tool0', goal[:3, :3], goal[:3, 3])]
    a = solve_global(UR5E, objective, np.zeros(6), random_seed=42, random_start=True)
    b = solve_global(UR5E, objective, np.zeros(6), random_seed=42, random_start=True)
    np.testing.assert_array_equal(a.q, b.q)
    assert a.iterations == b.iterations and a.restarts == b.restarts


def test_a_result_keeps_its_numbers_when_later_solves_reuse_the_work_arrays():
    poses = [UR5E.forward_kinematics(np.array(q), 'tool0') for q in
             ([0.5, -1.0, 1.3, 0.2, 1.1, -0.4], [-1.2, -0.6, 0.9, 1.4, -0.3, 2.0])]
    first = solve_global(UR5E, [IKObjective.fixed_pose('tool0', poses[0][:3, :3],
                                                       poses[0][:3, 3])])
    kept = first.q.copy(), first.residual.copy()
    second = solve_global(UR5E, [IKObjective.fixed_pose('tool0', poses[1][:3, :3],
                                                        poses[1][:3, 3])])
    assert first.success and second.success
    np.testing.assert_array_equal(first.q, kept[0])
    np.testing.assert_array_equal(first.residual, kept[1])
    # a miss's answer is the best row kept over the descents: its numbers are its own too
    far = [IKObjective.fixed_pose('tool0', poses[0][:3, :3], poses[0][:3, 3] * 10.0)]
    for mode in ('local', 'global'):
        missed = solve(UR5E, far, np.zeros(6), mode=mode,
                       settings=SolverSettings(max_restarts=3))
        kept = missed.q.copy(), missed.residual.copy()
        solve(UR5E, far, np.full(6, 0.5), mode=mode, settings=SolverSettings(max_restarts=3))
        assert not missed.success
        np.testing.assert_array_equal(missed.q, kept[0])
        np.testing.assert_array_equal(missed.residual, kept[1])


def test_solves_on_several_threads_at_once_give_the_answers_of_solves_one_by_one():
    # the compiled descent runs without the GIL: threads' solves of one chain overlap,
    # each on a descent state of its own
    rng = np.random.default_rng(7)
    limits = JointLimits.from_model(PANDA)
    poses = [PANDA.forward_kinematics(q, 'panda_hand')
             for q in limits.sample(rng, PANDA_Q, 48)]
    seeds = limits.sample(rng, PANDA_Q, 48)

    def answer(k):
        pose = poses[k]
        return solve_global(PANDA, [IKObjective.fixed_pose('panda_hand', pose[:3, :3],
                                                           pose[:3, 3])], seeds[k])

    alone = [answer(k) for k in range(len(poses))]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(answer, range(len(poses))))
    assert sum(r.success for r in alone) >= 40
    for a, b in zip(alone, together):
        np.testing.assert_array_equal(a.q, b.q)
        np.testing.assert_array_equal(a.residual, b.residual)
        assert (a.iterations, a.restarts) == (b.iterations, b.restarts)


# ---------------------------------------------------------------- budgets and stop reasons
BLOCKED = load_urdf_string(planar_arm(limits=[(-0.1, 0.1)] * 3))
BLOCKED_GOAL = [
    IKObjective.point('tip', [0, 0, 0], [1.0, 2.0, 0.0])
]  # inside reach, outside limits


def test_time_budget_ends_the_solve_and_is_reported():
    # the first global solve of a link also indexes its table poses, outside the budget
    solve_global(BLOCKED, BLOCKED_GOAL, np.zeros(3), settings=SolverSettings(timeout=0.001))
    settings = SolverSettings(timeout=0.02, max_restarts=10_000_000, max_iterations=20)
    result = solve_global(BLOCKED, BLOCKED_GOAL, np.zeros(3), settings=settings)
    # the clock ended it (not the restarts: 10^7 take minutes), after the budget; how
    # long after depends on the machine, so only the order is checked
    assert not result.success and result.stop_reason == 'timeout'
    assert result.elapsed >= 0.02 and 0 < result.restarts < 10_000_000


def test_restart_count_ends_the_solve_and_is_reported():
    settings = SolverSettings(timeout=10.0, max_restarts=5, max_iterations=20)
    result = solve_global(BLOCKED, BLOCKED_GOAL, np.zeros(3), settings=settings)
    assert (
        not result.success and result.stop_reason == 'restarts_exhausted' and result.restarts == 5
    )
    assert JointLimits.from_model(BLOCKED).contains(result.q)


def test_local_mode_makes_no_restarts():
    result = solve(BLOCKED, BLOCKED_GOAL, np.zeros(3), settings=SolverSettings(max_restarts=50))
    assert result.restarts == 0 and not result.success


@pytest.mark.parametrize('field, value', [
    ('tolerance', -1.0), ('tolerance', float('nan')), ('timeout', 0.0), ('timeout', 1e9),
    ('max_iterations', 0), ('batch_size', 0)])
def test_invalid_settings_are_refused(field, value):
    with pytest.raises(InvalidSettingsError, match=field):
        SolverSettings(**{field: value})


def test_magnitude_check_judges_each_value_alone():
    assert within_magnitude([6e5, -6e5, 6e5]) and within_magnitude([1e6, -1e6]) \
        and within_magnitude([])
    for values in ([1.0, float('nan')], [float('nan'), 1.0], [0.0, -float('inf')],
                   [1e6 + 1.0], [1e308, 1e308], [3e5, -2e6]):
        assert not within_magnitude(values), values


@pytest.mark.parametrize(
    'seed', [np.zeros(5), np.array([0, 0, np.nan, 0, 0, 0]), np.array([np.inf] * 6),
             np.array([0, 0, 2e6, 0, 0, 0])]
)
def test_invalid_seeds_are_refused(seed):
    with pytest.raises(InvalidConfigurationError):
        solve(UR5E, [IKObjective.point('tool0', [0, 0, 0], [0.3, 0.2, 0.3])], seed)


def test_nearby_without_a_deviation_is_refused():
    with pytest.raises(InvalidSettingsError, match='max_deviation'):
        solve(
            UR5E,
            [IKObjective.point('tool0', [0, 0, 0], [0.3, 0.2, 0.3])],
            np.zeros(6),
            mode='nearby',
        )


@pytest.mark.parametrize('mode', ['local', 'nearby', 'global'])
def test_the_descent_from_the_seed_does_not_depend_on_the_clock(mode):
    # A budget already spent when the solve starts (a machine that stalled) must not
    # change the answer: the descent from the seed always runs to its end.
    goal_q = np.array([0.3, -1.2, 1.4, -1.6, -1.5, 0.2])
    goal = UR5E.forward_kinematics(goal_q, 'tool0')
    objective = [IKObjective.fixed_pose('tool0', goal[:3, :3], goal[:3, 3])]
    seed = goal_q + np.array([0.05, -0.04, 0.03, 0.02, -0.05, 0.04])
    answers = [solve(UR5E, objective, seed, mode=mode, max_deviation=0.2,
                     settings=SolverSettings(timeout=timeout)) for timeout in (1e-9, 1.0)]
    # (global mode on this arm starts from its closed-form solutions: 0 iterations)
    assert all(a.success and (a.iterations > 0 or mode == 'global') for a in answers)
    assert np.array_equal(answers[0].q, answers[1].q)
    assert answers[0].iterations == answers[1].iterations


@pytest.mark.parametrize('seed, goal', [
    ([-0.9303, 4.1097, 0.9624, 3.8289, -4.9967, -2.1224],
     [-0.5361, 0.1143, 0.3467, 5.7016, -5.2496, -2.3801]),
    ([-5.4736, 1.2215, -3.0688, -5.1051, -4.4047, 6.0587],
     [1.1148, 3.979, 3.037, 4.6293, 5.9624, 6.1347]),
])
def test_a_joint_wider_than_a_turn_does_not_stall_a_descent_at_its_limit(seed, goal):
    # UR5 (+-2 pi wrists), the tool's z axis only, one descent from a far seed: it drove
    # wrist 2 into its limit and stopped there, 0.1-0.25 rad off, though the same pose a
    # turn back is inside the limits
    seed, goal = np.array(seed), np.array(goal)
    axis = UR5_ERD.forward_kinematics(goal, 'tool0')[:3, 2]
    objective = IKObjective('tool0', position='none', rotation='axial',
                            local_axis=[0, 0, 1], target_axis=axis)
    result = solve(UR5_ERD, [objective], seed, mode='local')
    reached = UR5_ERD.forward_kinematics(result.q, 'tool0')[:3, 2]
    assert result.success and np.arccos(min(1.0, reached @ axis)) < 1e-4
    assert JointLimits.from_model(UR5_ERD).contains(result.q)


def test_a_joint_resting_at_its_limit_does_not_stall_a_local_descent():
    # Panda's joint 4 at its lower limit in the seed and in the goal: the plain projected
    # step (clip the Gauss-Newton step into the limits) stalls on about half of these;
    # holding the joint at its bound and stepping the others solves them all
    limits = JointLimits.from_model(PANDA)
    rng = np.random.default_rng(7)
    solved = 0
    for _ in range(40):
        seed = limits.sample(rng, np.zeros(PANDA.num_dofs), 1)[0]
        seed[3] = PANDA.lower[3]
        goal = seed.copy()
        goal[:7] += rng.normal(size=7) * 0.05
        goal[3] = PANDA.lower[3]
        goal = limits.clip(goal)
        t = PANDA.forward_kinematics(goal, 'panda_hand')
        result = solve(PANDA, [IKObjective.fixed_pose('panda_hand', t[:3, :3], t[:3, 3])],
                       seed, mode='local')
        reached = PANDA.forward_kinematics(result.q, 'panda_hand')
        solved += result.success and np.abs(reached - t).max() < 1e-4 and limits.contains(
            result.q)
    assert solved == 40


def test_a_cancelled_solve_says_so_even_when_its_target_is_out_of_reach():
    asked = []

    def cancel():               # the caller leaves after two looks
        asked.append(1)
        return len(asked) > 2

    far = [IKObjective.fixed_pose('tool0', np.eye(3), [3.0, 0.0, 0.5])]
    settings = SolverSettings(timeout=10.0, max_restarts=10_000_000)
    result = solve(UR5E, far, np.zeros(6), mode='global', settings=settings, cancel=cancel)
    assert result.stop_reason == 'cancelled' and not result.success
    alone = solve(UR5E, far, np.zeros(6), mode='global', settings=replace(settings, timeout=0.05))
    assert alone.stop_reason == 'unreachable'       # what it says when not cancelled
