"""The seed table's rankings against scores computed by forward kinematics, one pose at a time."""
import math

from ik_service.core import IKObjective, JointLimits, load_urdf_file, load_urdf_string, solve
from ik_service.core.objectives import ObjectiveSet
from ik_service.core.seed_table import RANKED_SIZE, ROTATION_WEIGHT, SeedTable
from ik_service.core.turned_poses import axis_features
import numpy as np
import pytest
from robots import ARMS, dual_arm, gripper_with_mimic_and_prismatic, robot_path
from scipy.spatial.transform import Rotation

TARGET_ROTATION = Rotation.from_rotvec([0.3, -1.2, 0.5]).as_matrix()


# A 4-joint arm whose first joint axis is tilted and off the root origin.
TILTED_ARM = """<robot name="tilted">
  <link name="base"/><link name="l1"/><link name="l2"/><link name="l3"/><link name="l4"/>
  <link name="tip"/>
  <joint name="j1" type="revolute"><parent link="base"/><child link="l1"/>
    <origin xyz="0.1 -0.2 0.3" rpy="0.4 -0.3 0.2"/><axis xyz="0.3 0.5 0.8"/>
    <limit lower="-2.8" upper="2.8" effort="1" velocity="1"/></joint>
  <joint name="j2" type="revolute"><parent link="l1"/><child link="l2"/>
    <origin xyz="0 0 0.2"/><axis xyz="0 1 0"/>
    <limit lower="-2" upper="2" effort="1" velocity="1"/></joint>
  <joint name="j3" type="revolute"><parent link="l2"/><child link="l3"/>
    <origin xyz="0.4 0 0"/><axis xyz="0 1 0"/>
    <limit lower="-2.5" upper="2.5" effort="1" velocity="1"/></joint>
  <joint name="j4" type="revolute"><parent link="l3"/><child link="l4"/>
    <origin xyz="0.3 0 0"/><axis xyz="1 0 0"/>
    <limit lower="-3" upper="3" effort="1" velocity="1"/></joint>
  <joint name="tip_joint" type="fixed"><parent link="l4"/><child link="tip"/>
    <origin xyz="0.1 0.05 0" rpy="0.2 0 0"/></joint>
</robot>"""


def _arm(name):
    if name == 'tilted':
        return load_urdf_string(TILTED_ARM), 'tip'
    if name == 'dual':      # a torso turning both arms, within 3 rad only
        return load_urdf_string(dual_arm()), 'left_tip'
    path, tip = ARMS[name]
    return load_urdf_file(robot_path(path)), tip


def _scores_by_fk(model, q, objective):
    """Squared point distance [m^2] plus ROTATION_WEIGHT (3 - trace(R_t^T R)) per configuration."""
    poses = model.forward_kinematics(q, objective.link)
    points = poses[:, :3, :3] @ objective.local_points[0] + poses[:, :3, 3]
    distance_sq = np.sum((points - objective.target_points[0]) ** 2, axis=1)
    traces = np.einsum('ij,bij->b', objective.target_rotation, poses[:, :3, :3])
    return distance_sq + ROTATION_WEIGHT * (3.0 - traces)


def _first_joint(model, tip):
    """Return the dof of the first joint of the tip's chain and its axis frame (4, 4) at 0."""
    dof = int(np.flatnonzero(model.dofs_moving_links([model.link_id(tip)]))[0])
    name = model.joint_names[dof]
    joint = next(j for j in model._frame_joint if j.name == name)
    frame = model.forward_kinematics(np.zeros(model.num_dofs), joint.parent) @ joint.origin
    axis = np.asarray(joint.axis, dtype=float)
    # any frame whose z axis is the joint axis: azimuths are compared, not absolute
    x = np.cross(axis, [1.0, 0.0, 0.0] if abs(axis[0]) < 0.9 else [0.0, 1.0, 0.0])
    x /= np.linalg.norm(x)
    rotation = np.column_stack([x, np.cross(axis, x), axis])
    frame[:3, :3] = frame[:3, :3] @ rotation
    return dof, frame


def _azimuth(frame, point):
    local = np.linalg.solve(frame, np.append(point, 1.0))
    return math.atan2(local[1], local[0])


@pytest.mark.parametrize('local_point', [(0.0, 0.0, 0.0), (0.05, -0.02, 0.1)])
def test_ranking_is_the_order_of_the_true_distances(local_point):
    model, tip = _arm('panda')
    objective = IKObjective.fixed_pose(tip, TARGET_ROTATION, [0.4, 0.1, 0.5],
                                       local_point=local_point)
    table = SeedTable.of(model)
    ranked = table.ranked(ObjectiveSet(model, [objective]), 32, np.arange(model.num_dofs),
                          np.zeros(model.num_dofs))
    scores = _scores_by_fk(model, table.q[:RANKED_SIZE], objective)
    assert len(ranked) == 32
    np.testing.assert_allclose(scores[ranked], np.sort(scores)[:32], rtol=1e-9, atol=1e-12)


def test_axis_features_are_the_pose_turned_to_azimuth_zero():
    rng = np.random.default_rng(3)
    points = rng.normal(size=(20, 3))
    rotations = Rotation.random(20, random_state=4).as_matrix()
    from_root = np.eye(4)
    from_root[:3, :3] = Rotation.from_rotvec([0.3, -0.2, 0.9]).as_matrix()
    from_root[:3, 3] = [0.1, -0.4, 0.2]
    for p, r in zip(points, rotations):
        pose = np.eye(4)
        pose[:3, :3], pose[:3, 3] = r, p
        features = np.empty(12)
        azimuth = axis_features(from_root, pose, features)
        local = from_root @ pose
        undo = Rotation.from_rotvec([0.0, 0.0, -azimuth]).as_matrix()
        distance, height = features[:2]
        np.testing.assert_allclose(undo @ local[:3, 3], [distance, 0.0, height], atol=1e-12)
        assert distance >= 0 and features[2] == pytest.approx(distance ** 2 + height ** 2)
        np.testing.assert_allclose(features[3:].reshape(3, 3), undo @ local[:3, :3], atol=1e-12)


@pytest.mark.parametrize('robot', ['ur5', 'panda', 'z1', 'tilted', 'dual'])
def test_turned_starts_are_table_entries_turned_to_the_target(robot):
    model, tip = _arm(robot)
    dof, axis_frame = _first_joint(model, tip)
    target = np.array([0.3, -0.25, 0.35])
    objective = IKObjective.fixed_pose(tip, TARGET_ROTATION, target)
    table = SeedTable.of(model)
    starts = table.turned_starts(ObjectiveSet(model, [objective]), 32,
                                 np.arange(model.num_dofs), np.zeros(model.num_dofs))
    assert starts.shape == (32, model.num_dofs)
    others = np.delete(np.arange(model.num_dofs), dof)
    for q in starts:      # every joint but the first is some entry's
        assert np.min(np.abs(table.q[:, others] - q[others]).max(axis=1)) == 0.0
    # inside the first joint's limits, and the link origin at the target's azimuth
    assert np.all((starts[:, dof] >= model.lower[dof]) & (starts[:, dof] <= model.upper[dof]))
    origins = model.forward_kinematics(starts, tip)[:, :3, 3]
    turned = [_azimuth(axis_frame, p) - _azimuth(axis_frame, target) for p in origins]
    np.testing.assert_allclose(np.angle(np.exp(1j * np.array(turned))), 0.0, atol=1e-9)
    # best first, and better than the best unturned entry of the plain ranking
    scores = _scores_by_fk(model, starts, objective)
    assert np.all(np.diff(scores) >= -1e-6)
    assert scores[0] < np.min(_scores_by_fk(model, table.q[:RANKED_SIZE], objective))


def test_turned_search_finds_nearly_the_best_of_all_turned_entries():
    model, tip = _arm('ur5')
    dof, axis_frame = _first_joint(model, tip)
    target = np.array([-0.2, 0.45, 0.3])
    objective = IKObjective.fixed_pose(tip, TARGET_ROTATION, target)
    table = SeedTable.of(model)
    starts = table.turned_starts(ObjectiveSet(model, [objective]), 32,
                                 np.arange(model.num_dofs), np.zeros(model.num_dofs))
    # every entry turned to the target's azimuth, by forward kinematics
    turned = table.q.copy()
    origins = model.forward_kinematics(table.q, tip)[:, :3, 3]
    turned[:, dof] += _azimuth(axis_frame, target) - \
        np.array([_azimuth(axis_frame, p) for p in origins])
    exact = np.sort(_scores_by_fk(model, turned, objective))
    found = _scores_by_fk(model, starts, objective)
    assert found[0] <= exact[4]            # among the five best of all entries
    assert found[6] <= exact[50]           # the batch's starts among the best fifty


def test_other_problems_fall_back_to_the_plain_ranking():
    model, tip = _arm('ur5')
    table = SeedTable.of(model)
    every, zeros = np.arange(model.num_dofs), np.zeros(model.num_dofs)
    offset = IKObjective.fixed_pose(tip, TARGET_ROTATION, [0.3, 0.2, 0.3], local_point=[0, 0, 0.1])
    second = IKObjective.point('forearm_link', [0, 0, 0], [0.1, 0.2, 0.3])
    rotation_only = IKObjective.fixed_rotation(tip, TARGET_ROTATION)
    plain = IKObjective.fixed_pose(tip, TARGET_ROTATION, [0.3, 0.2, 0.3])
    for objectives in ([offset], [plain, second], [rotation_only]):
        problem = ObjectiveSet(model, objectives)
        assert table.turned_starts(problem, 32, every, zeros) is None
        np.testing.assert_array_equal(table.starts(problem, 32, every, zeros),
                                      table.q[table.ranked(problem, 32, every, zeros)])
    # a prismatic first joint does not turn the link
    gripper = load_urdf_string(gripper_with_mimic_and_prismatic())
    problem = ObjectiveSet(gripper, [IKObjective.point('tcp', [0, 0, 0], [0.3, 0.1, 0.4])])
    every_dof = np.arange(gripper.num_dofs)
    assert SeedTable.of(gripper).turned_starts(problem, 32, every_dof,
                                               np.zeros(gripper.num_dofs)) is None


def test_a_torso_held_still_ranks_the_arm_over_the_torso_at_the_seed():
    # PR2's right arm with the torso lift held at 0.2 m: the table ranks the arm's poses
    # over the torso as it is, turned about the shoulder pan joint to the target
    model = load_urdf_file(robot_path('pr2_description/urdf/pr2.urdf'))
    tip = 'r_wrist_roll_link'
    torso = model.joint_id('torso_lift_joint')
    arm = np.flatnonzero(model.dofs_moving_links([model.link_id(tip)]))
    arm = arm[arm != torso]
    seed = np.zeros(model.num_dofs)
    seed[torso] = 0.2
    goal = seed.copy()
    goal[arm] = JointLimits.from_model(model).sample(np.random.default_rng(5), seed, 1)[0, arm]
    target = model.forward_kinematics(goal, tip)
    objective = IKObjective.fixed_pose(tip, target[:3, :3], target[:3, 3])
    table = SeedTable.of(model)
    problem = ObjectiveSet(model, [objective])
    starts = table.starts(problem, 32, arm, seed)
    assert starts.shape == (32, len(arm))
    full = np.tile(seed, (32, 1))
    full[:, arm] = starts
    scores = _scores_by_fk(model, full, objective)
    assert np.all(np.diff(scores) >= -1e-6)          # best first, by FK at the seed's torso
    entries = np.tile(seed, (RANKED_SIZE, 1))
    entries[:, arm] = table.q[:RANKED_SIZE, arm]
    assert scores[0] < np.min(_scores_by_fk(model, entries, objective))
    # the wrist at the target's azimuth about the shoulder pan axis
    pan = model.joint_id('r_shoulder_pan_joint')
    joint = next(j for j in model._frame_joint if j.name == 'r_shoulder_pan_joint')
    frame = model.forward_kinematics(seed, joint.parent) @ joint.origin
    axis = frame[:3, :3] @ np.asarray(joint.axis, dtype=float)
    assert np.allclose(axis, [0, 0, 1])          # PR2's pan axis is vertical
    azimuth = [math.atan2(*(p - frame[:3, 3])[1::-1]) for p in
               model.forward_kinematics(full, tip)[:, :3, 3]]
    goal_azimuth = math.atan2(*(target[:3, 3] - frame[:3, 3])[1::-1])
    inside = (full[:, pan] > model.lower[pan]) & (full[:, pan] < model.upper[pan])
    np.testing.assert_allclose(np.angle(np.exp(1j * (np.array(azimuth) - goal_azimuth)))[inside],
                               0.0, atol=1e-9)
    # with the first joint held still, a UR5's entries turn about the next one instead
    model, tip = _arm('ur5')
    problem = ObjectiveSet(model, [IKObjective.fixed_pose(tip, TARGET_ROTATION, [0.3, 0.2, 0.3])])
    every = np.arange(model.num_dofs)
    assert SeedTable.of(model).turned_starts(problem, 32, every[1:], np.zeros(6)) is not None


@pytest.mark.parametrize('robot', ['tilted', 'dual'])
def test_global_solves_from_turned_starts_meet_poses_on_odd_first_joints(robot):
    model, tip = _arm(robot)
    dofs = np.flatnonzero(model.dofs_moving_links([model.link_id(tip)]))
    rng = np.random.default_rng(11)
    limits = JointLimits.from_model(model)
    for k in range(20):
        goal = limits.sample(rng, np.zeros(model.num_dofs), 1)[0]
        target = model.forward_kinematics(goal, tip)
        # a 4-dof arm reaches a position and one more rotation coordinate: position only
        objective = IKObjective.point(tip, [0, 0, 0], target[:3, 3]) if robot == 'tilted' \
            else IKObjective.fixed_pose(tip, target[:3, :3], target[:3, 3])
        result = solve(model, [objective], np.zeros(model.num_dofs), mode='global',
                       random_seed=k)
        assert result.success, (k, result.stop_reason, result.max_error)
        reached = model.forward_kinematics(result.q, tip)
        assert np.linalg.norm(reached[:3, 3] - target[:3, 3]) < 1e-4
        assert np.all(result.q[dofs] >= model.lower[dofs] - 1e-9)
        assert np.all(result.q[dofs] <= model.upper[dofs] + 1e-9)


def test_targets_in_a_static_link_frame_rank_as_the_same_targets_in_the_root_frame():
    model, tip = _arm('ur5')
    base = model.fixed_link_transform('base')         # turned a half turn about z
    assert not np.allclose(base, np.eye(4))
    target = np.array([0.3, -0.25, 0.35])
    in_root = IKObjective.fixed_pose(tip, TARGET_ROTATION, target)
    in_base = IKObjective.fixed_pose(tip, base[:3, :3].T @ TARGET_ROTATION,
                                     base[:3, :3].T @ (target - base[:3, 3]), ref_link='base')
    table = SeedTable.of(model)
    every, zeros = np.arange(model.num_dofs), np.zeros(model.num_dofs)
    root_problem, base_problem = ObjectiveSet(model, [in_root]), ObjectiveSet(model, [in_base])
    np.testing.assert_allclose(table.turned_starts(base_problem, 32, every, zeros),
                               table.turned_starts(root_problem, 32, every, zeros), atol=1e-9)
    np.testing.assert_array_equal(table.ranked(base_problem, 32, every, zeros),
                                  table.ranked(root_problem, 32, every, zeros))


def test_models_with_the_same_kinematics_share_one_table():
    again = load_urdf_file(robot_path(ARMS['ur5'][0]))
    first = load_urdf_file(robot_path(ARMS['ur5'][0]))
    other = load_urdf_file(robot_path(ARMS['panda'][0]))
    assert again.fingerprint == first.fingerprint != other.fingerprint
    assert SeedTable.of(again) is SeedTable.of(first)
    assert SeedTable.of(other) is not SeedTable.of(first)


def test_a_link_is_prepared_once_its_entries_are_built():
    # kinematics of its own: tables are shared by models with the same kinematics
    model = load_urdf_string(dual_arm().replace('xyz="0 0 0.5"', 'xyz="0 0 0.5017"'))
    table = SeedTable.of(model)
    links = [model.link_id(name) for name in model.link_names if 'tip' in name]
    idx = np.arange(model.num_dofs)
    assert links and not table.is_prepared(links, idx)
    assert table.prepare(links[:1], idx) > 0.0
    assert table.is_prepared(links[:1], idx) and not table.is_prepared(links, idx)
    table.prepare(links, idx)
    assert table.is_prepared(links, idx) and table.prepare(links, idx) == 0.0
