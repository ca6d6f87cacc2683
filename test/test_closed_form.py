"""Closed-form IK (EAIK through our kinematics): every solution, checked by FK and by search."""

import os

from ik_service.core import (all_solutions, ClosedForm, IKObjective, InvalidSettingsError,
                             JointLimits, labelled_solutions, load_urdf_file, load_urdf_string,
                             NoSolutionError, ObjectiveSet, solve, solve_on_branch,
                             SolverSettings)
from ik_service.core import closed_form
from ik_service.core.solver import exact_solutions
import numpy as np
import pytest
from robots import ARMS, planar_arm, robot_path

UR5 = load_urdf_file(robot_path(ARMS['ur5'][0]))
KINOVA = load_urdf_file(robot_path('kinova_description/robots/kinova.urdf'))
CASES = {       # model, base link, tip, the arm's joints
    'ur5': (UR5, 'base_link', 'tool0', list(UR5.joint_names)),
    'kinova': (KINOVA, 'j2s6s200_link_base', 'j2s6s200_end_effector',
               [f'j2s6s200_joint_{i}' for i in range(1, 7)]),
}


def _arm(key):
    model, base, tip, joints = CASES[key]
    active = np.zeros(model.num_dofs, dtype=bool)
    active[[model.joint_id(j) for j in joints]] = True
    return model, base, tip, active


def _target(model, base, tip, q):
    pose = np.linalg.inv(model.forward_kinematics(q, base)) @ model.forward_kinematics(q, tip)
    return pose, IKObjective.fixed_pose(tip, pose[:3, :3], pose[:3, 3], ref_link=base)


@pytest.mark.parametrize('key', sorted(CASES))
def test_every_solution_reaches_the_pose_inside_the_limits(key):
    model, base, tip, active = _arm(key)
    limits = JointLimits.from_model(model)
    rng = np.random.default_rng(0)
    for q in limits.sample(rng, np.zeros(model.num_dofs), 20):
        q = np.where(active, q, 0.0)
        pose, objective = _target(model, base, tip, q)
        found = all_solutions(model, objective, q, active=active)
        assert len(found) >= 1 and np.abs(found[0] - q).max() < 1e-6     # the seed's own
        for row in found:
            reached = np.linalg.inv(model.forward_kinematics(row, base)) @ \
                model.forward_kinematics(row, tip)
            assert np.abs(reached - pose).max() < 1e-9
            assert limits.contains(row, 0.0) and np.array_equal(row[~active], q[~active])
        distance = np.abs(found - q).max(axis=1)
        assert (np.diff(distance) >= 0).all()                       # nearest the seed first
        assert len({tuple(np.round(r, 6)) for r in found}) == len(found)


def test_exact_solutions_are_one_per_solution_inside_the_limits_nearest_the_seed_first():
    model, base, tip, active = _arm('ur5')
    joints = list(model.joint_names)
    limits = JointLimits.from_model(model)
    q = np.array([0.4, -1.1, 1.3, -1.7, -1.4, 0.6])
    pose, objective = _target(model, base, tip, q)
    seed = q + 0.2
    exact = exact_solutions(model, [objective], seed, active_joints=joints)
    assert len(exact) >= 4 and np.abs(exact[0] - q).max() < 1e-9       # q's own first
    every = all_solutions(model, objective, seed, active=active)
    for row in exact:
        reached = np.linalg.inv(model.forward_kinematics(row, base)) @ \
            model.forward_kinematics(row, tip)
        assert np.abs(reached - pose).max() < 1e-9 and limits.contains(row, 0.0)
        assert np.abs(every - row).max(axis=1).min() < 1e-9         # one of all_solutions
    assert (np.diff(np.abs(exact - seed).max(axis=1)) >= 0).all()
    # a box around q holds q's solution alone; a box away from every solution holds none
    assert len(exact_solutions(model, [objective], q, limits=limits.around(q, 0.1),
                               active_joints=joints)) == 1
    away = q + np.array([1.0, 0, 0, 0, 0, 0])
    none = exact_solutions(model, [objective], away, limits=limits.around(away, 0.1),
                           active_joints=joints)
    assert none.shape == (0, model.num_dofs)
    assert not solve(model, [objective], away, mode='global', limits=limits.around(away, 0.1),
                     active_joints=joints, random_seed=1).success
    panda = load_urdf_file(robot_path(ARMS['panda'][0]))
    hand = panda.forward_kinematics(np.full(panda.num_dofs, 0.3), 'panda_hand')
    assert exact_solutions(panda, [IKObjective.fixed_pose('panda_hand', hand[:3, :3],
                                                          hand[:3, 3])],
                           np.zeros(panda.num_dofs)) is None          # 7 joints: no form


def test_no_solution_escapes_a_dense_numerical_search():
    """Local descents from 300 random starts find no UR5 solution the closed form lacks."""
    model, base, tip, active = _arm('ur5')
    q = np.array([0.4, -1.1, 1.3, -1.7, -1.4, 0.6])
    _, objective = _target(model, base, tip, q)
    found = all_solutions(model, objective, q, active=active)
    settings = SolverSettings(tolerance=1e-10, max_iterations=200)
    searched = 0
    for k in range(300):
        r = solve(model, [objective], q, mode='local', random_start=True, random_seed=k,
                  settings=settings)
        if r.success:
            searched += 1
            assert np.abs(found - r.q).max(axis=1).min() < 1e-6, r.q
    assert searched > 50 and len(found) > 8     # 8 branches, angles a turn apart


def test_chains_without_a_closed_form_say_so():
    panda = load_urdf_file(robot_path(ARMS['panda'][0]))
    pose = panda.forward_kinematics(np.full(panda.num_dofs, 0.3), 'panda_hand')
    objective = IKObjective.fixed_pose('panda_hand', pose[:3, :3], pose[:3, 3])
    assert all_solutions(panda, objective, np.zeros(panda.num_dofs)) is None    # 7 joints
    model, base, tip, active = _arm('ur5')
    point = IKObjective.point(tip, [0, 0, 0], [0.3, 0.2, 0.4])
    assert all_solutions(model, point, np.zeros(6)) is None             # not a pose
    fewer = active.copy()
    fewer[:2] = False
    assert ClosedForm.of(model, tip, fewer) is None                     # 4 active joints


def _last_joints(path, link, count=6):
    """Return (model, active dofs (n,): the last ``count`` joints moving ``link``) of a URDF."""
    model = load_urdf_file(robot_path(path))
    active = np.zeros(model.num_dofs, dtype=bool)
    active[np.flatnonzero(model.dofs_moving_links([model.link_id(link)]))[-count:]] = True
    return model, active


@pytest.mark.parametrize('path, link', [
    ('centauro_description/urdf/centauro.urdf', 'wheel_1'),
    ('simple_humanoid_description/urdf/simple_humanoid.urdf', 'LARM_LINK3'),
])
def test_a_chain_whose_geometry_the_closed_form_misses_is_left_to_the_descent(path, link):
    """
    Leave chains that EAIK files under a family they do not fit to the descent.

    Centauro's leg down to its wheel (EAIK's answers miss the pose by 0.1-1.9) and a
    humanoid's waist and shoulder (two triples of intersecting axes: a few of infinitely
    many solutions, rarely the one asked for).
    """
    model, active = _last_joints(path, link)
    assert ClosedForm.of(model, link, active) is None
    names = [model.joint_names[i] for i in np.flatnonzero(active)]
    rng = np.random.default_rng(5)
    for _ in range(5):
        q = np.where(active, JointLimits.from_model(model).sample(
            rng, np.zeros(model.num_dofs), 1)[0], 0.0)
        pose = model.forward_kinematics(q, link)
        objective = IKObjective.fixed_pose(link, pose[:3, :3], pose[:3, 3])
        assert exact_solutions(model, [objective], q, active_joints=names) is None
        result = solve(model, [objective], np.zeros(model.num_dofs), mode='global',
                       active_joints=names)
        reached = model.forward_kinematics(result.q, link)
        assert result.success and np.abs(reached - pose).max() < 1e-4


def test_exact_answers_marked_least_squares_count_as_solutions():
    """
    Keep exact answers that EAIK marks least-squares.

    On a biped's leg it marks about one exact answer in ten so (~1e-11 off): every
    configuration is among the solutions of its own pose.
    """
    model, active = _last_joints('alexander_description/urdf/alexander_v1.lowerBodyOnly.urdf',
                                 'LEFT_FOOT')
    form = ClosedForm.of(model, 'LEFT_FOOT', active)
    dofs = np.flatnonzero(active)
    rng = np.random.default_rng(6)
    for _ in range(60):
        q = np.zeros(model.num_dofs)
        q[dofs] = rng.uniform(-np.pi, np.pi, len(dofs))
        solutions = form.solutions(model.forward_kinematics(q, 'LEFT_FOOT'), q)
        turns = np.remainder(solutions - q[form.dofs] + np.pi, 2 * np.pi) - np.pi
        assert len(solutions) and np.abs(turns).max(axis=1).min() < 1e-6


def test_a_chain_eaik_cannot_solve_is_refused_without_console_noise(capfd):
    """EAIK prints "no known subproblem decomposition" on stderr for this 5R arm; we do not."""
    model, active = _last_joints('alex_description/urdf/alex_nub_hands.urdf',
                                 'LeftShoulderYawLink', 5)
    assert ClosedForm.of(model, 'LeftShoulderYawLink', active) is None
    os.write(2, b'standard error is back\n')
    assert capfd.readouterr().err == 'standard error is back\n'


@pytest.mark.parametrize('path, link, count', [
    ('baxter_description/urdf/baxter.urdf', 'left_upper_forearm', 5),
    ('so_arm_description/urdf/so101.urdf', 'moving_jaw_so101_v1_link', 6),
])
def test_exact_answers_a_little_off_the_pose_are_refined_to_the_tolerance(path, link, count):
    """
    Refine answers that miss the pose by less than SOLUTION_TOLERANCE, then check them.

    Baxter's forearm (5R) and SO-101 (6R): EAIK's answer is 1e-9..1e-7 off the pose for
    about one pose in ten (one in a hundred on SO-101); at tolerance 1e-9 those poses
    lacked their own configuration. Each pose's every solution now meets 1e-9 by FK.
    """
    model, active = _last_joints(path, link, count)
    dofs = np.flatnonzero(active)
    unbounded = JointLimits.from_model(model, enabled=False)
    rng = np.random.default_rng(1)
    for _ in range(60 if count == 5 else 200):
        q = np.zeros(model.num_dofs)
        q[dofs] = rng.uniform(-np.pi, np.pi, count)
        pose = model.forward_kinematics(q, link)
        objective = IKObjective.fixed_pose(link, pose[:3, :3], pose[:3, 3])
        found = all_solutions(model, objective, q, unbounded, active, tolerance=1e-9)
        assert len(found) and np.abs(found[0] - q).max() < 1e-6         # the seed's own
        assert np.abs(model.forward_kinematics(found, link) - pose).max() <= 1e-9


def test_the_global_answer_is_the_exact_solution_nearest_the_seed():
    model, base, tip, active = _arm('ur5')
    q = np.array([0.4, -1.1, 1.3, -1.7, -1.4, 0.6])
    _, objective = _target(model, base, tip, q)
    seed = q + np.array([2.5, 0.4, -2.6, 0.3, 2.8, -0.2])       # nearer another branch
    found = all_solutions(model, objective, seed, active=active)
    result = solve(model, [objective], seed, mode='global', random_seed=3)
    assert result.success and result.iterations == 0
    np.testing.assert_allclose(result.q, found[0], atol=1e-9)


def test_a_named_branch_is_solved_nearest_the_seed_and_a_missing_one_is_refused():
    model, base, tip, active = _arm('ur5')
    q = np.array([0.4, -1.1, 1.3, -1.7, -1.4, 0.6])
    pose, objective = _target(model, base, tip, q)
    problem = ObjectiveSet(model, [objective])
    found = labelled_solutions(problem, q)
    form = ClosedForm.of(model, tip, active)
    exact = form.solutions(model.forward_kinematics(q, tip), q)
    assert found.labels == form.branches(found.q) and len(set(found.labels)) == len(exact) >= 4
    for label in sorted(set(found.labels)):
        result = solve_on_branch(problem, q, label)
        assert result.success and result.max_error < 1e-9
        assert form.branches(result.q[None]) == [label]
        on = [r for r, other in zip(found.q, found.labels) if other == label]
        np.testing.assert_allclose(result.q, on[0], atol=1e-9)     # nearest the seed
        reached = np.linalg.inv(model.forward_kinematics(result.q, base)) @ \
            model.forward_kinematics(result.q, tip)
        assert np.abs(reached - pose).max() < 1e-9
    with pytest.raises(NoSolutionError, match='this pose has: shoulder'):
        solve_on_branch(problem, q, 'shoulder0 elbow0 wrist0')
    panda = load_urdf_file(robot_path(ARMS['panda'][0]))
    hand = panda.forward_kinematics(np.full(panda.num_dofs, 0.3), 'panda_hand')
    seven = ObjectiveSet(panda, [IKObjective.fixed_pose('panda_hand', hand[:3, :3],
                                                        hand[:3, 3])])
    assert labelled_solutions(seven, np.zeros(panda.num_dofs)) is None
    with pytest.raises(InvalidSettingsError, match='closed form'):
        solve_on_branch(seven, np.zeros(panda.num_dofs), 'shoulder+ elbow+ wrist+')


@pytest.mark.parametrize('path, link, labelled', [
    ('panda_description/urdf/panda.urdf', 'panda_link6', True),     # a spherical shoulder
    ('simple_humanoid_description/urdf/simple_humanoid.urdf', 'LARM_LINK6', True),
    ('romeo_description/urdf/romeo.urdf', 'RWristYawLink', True),
    ('centauro_description/urdf/centauro.urdf', 'arm1_6', False),   # signs that do not fit
    ('ur_description/urdf/ur10_robot.urdf', 'wrist_3_link', True),
])
def test_branch_labels_tell_apart_the_solutions_of_random_poses_or_are_left_out(
        path, link, labelled):
    """
    Label a chain's solutions only where the labels tell them apart.

    Panda's first six joints and humanoid arms have their spherical joint at the shoulder:
    their labels are read from the other end. Centauro's arm fits neither reading: it has
    a closed form but no labels.
    """
    model, active = _last_joints(path, link)
    form = ClosedForm.of(model, link, active)
    rng = np.random.default_rng(11)
    for _ in range(100):
        q = np.zeros(model.num_dofs)
        q[form.dofs] = rng.uniform(-np.pi, np.pi, len(form.dofs))
        solutions = form.solutions(model.forward_kinematics(q, link), q)
        configurations = np.tile(q, (len(solutions), 1))
        configurations[:, form.dofs] = solutions
        labels, near = form.describe(configurations)
        assert all(labels) if labelled else not any(labels)
        apart = [label for label, kinds in zip(labels, near) if not kinds]
        assert not labelled or len(set(apart)) == len(apart)


@pytest.mark.parametrize('key', sorted(CASES))
def test_branch_labels_tell_the_exact_solutions_apart_and_hold_along_a_motion(key):
    model, base, tip, active = _arm(key)
    form = ClosedForm.of(model, tip, active)
    rng = np.random.default_rng(2)
    limits = JointLimits.from_model(model)
    for q in limits.sample(rng, np.zeros(model.num_dofs), 10):
        q = np.where(active, q, 0.0)
        exact = np.tile(q, (8, 1))
        solutions = form.solutions(model.forward_kinematics(q, tip), q)
        exact = exact[:len(solutions)]
        exact[:, form.dofs] = solutions
        labels = form.branches(exact)
        assert len(set(labels)) == len(labels) == len(solutions)
        step = rng.normal(0, 0.03, model.num_dofs) * active
        path = q + np.linspace(0, 1, 200)[:, None] * step
        assert len(set(form.branches(path))) == 1                   # no singularity that close


def test_ur5_branch_signs_are_those_of_its_analytic_solution():
    """Elbow: sin(elbow_joint), 0 when stretched; wrist: sin(wrist_2_joint), 0 when aligned."""
    model, base, tip, active = _arm('ur5')
    form = ClosedForm.of(model, tip, active)
    q = JointLimits.from_model(model).sample(np.random.default_rng(3), np.zeros(6), 200)
    signs = [label.split() for label in form.branches(q)]
    elbow = np.array([s[1][-1] == '+' for s in signs])
    wrist = np.array([s[2][-1] == '+' for s in signs])
    assert len(set(elbow == (np.sin(q[:, 2]) > 0))) == 1      # the same sign, or its opposite
    assert len(set(wrist == (np.sin(q[:, 4]) > 0))) == 1


@pytest.mark.parametrize('key', sorted(CASES))
def test_configurations_near_a_singular_surface_say_which(key):
    """A label's sign changes where its factor crosses 0; there, and only near it, it is named."""
    model, base, tip, active = _arm(key)
    form = ClosedForm.of(model, tip, active)
    rng = np.random.default_rng(4)
    crossings = 0
    for q in JointLimits.from_model(model).sample(rng, np.zeros(model.num_dofs), 4):
        q = np.where(active, q, 0.0)
        for dof in form.dofs:                           # sweep each joint in 4e-4 rad steps
            path = np.tile(q, (5001, 1))
            path[:, dof] += np.linspace(-1.0, 1.0, 5001)
            labels, near = form.describe(path)
            for i in np.flatnonzero([a != b for a, b in zip(labels[:-1], labels[1:])]):
                if '0' in labels[i] + labels[i + 1]:
                    continue                            # the sweep lands on the surface
                changed = [name for name, a, b in zip(
                    ('shoulder', 'elbow', 'wrist'), labels[i].split(), labels[i + 1].split())
                    if a != b]
                assert set(changed) <= set(near[i]) | set(near[i + 1]), (labels[i], near[i])
                crossings += 1
    assert crossings >= 5
    far = JointLimits.from_model(model).sample(rng, np.zeros(model.num_dofs), 400)
    assert np.mean([bool(n) for n in form.near_singularities(np.where(active, far, 0.0))]) < 0.1


def test_a_ur5_pose_near_the_wrist_singularity_keeps_its_solutions_and_says_so():
    model, base, tip, active = _arm('ur5')
    form = ClosedForm.of(model, tip, active)
    q = np.array([0.4, -1.1, 1.3, -1.7, 1e-4, 0.6])         # wrist_2 nearly 0: axes 4, 6 align
    pose, objective = _target(model, base, tip, q)
    found = all_solutions(model, objective, q, active=active)
    assert np.abs(found[0] - q).max() < 1e-6
    assert 'wrist' in form.near_singularities(found[:1])[0]
    assert form.near_singularities(np.where(active, 0.5, 0.0)[None]) == [[]]


UR5_5R = load_urdf_string(open(robot_path(ARMS['ur5'][0])).read().replace(
    '<joint name="wrist_3_joint" type="revolute">', '<joint name="wrist_3_joint" type="fixed">'))


def _exact_and_complete(model, form, link, q):
    """Assert that q's configuration is among the solutions of its link's pose, all on it."""
    pose = model.forward_kinematics(q, link)
    solutions = form.solutions(pose, q)
    configurations = np.tile(q, (len(solutions), 1))
    configurations[:, form.dofs] = solutions
    assert np.abs(model.forward_kinematics(configurations, link) - pose).max() < 1e-9
    turns = np.remainder(solutions - q[form.dofs] + np.pi, 2 * np.pi) - np.pi
    assert np.abs(turns).max(axis=1).min() < 1e-6
    return solutions


def test_a_six_joint_arm_on_a_lift_gets_its_closed_form_at_any_lift_height():
    """Tiago's arm, its first joint and the torso lift (prismatic) held: they pose the base."""
    model = load_urdf_file(robot_path('tiago_description/robots/tiago_no_hand.urdf'))
    joints = [f'arm_{i}_joint' for i in range(2, 8)]
    active = model.dofs_named(joints)
    form = ClosedForm.of(model, 'arm_7_link', active)
    assert form is not None and form.family.startswith('6R')
    limits = JointLimits.from_model(model)
    rng = np.random.default_rng(8)
    for q in limits.sample(rng, np.zeros(model.num_dofs), 10):
        _exact_and_complete(model, form, 'arm_7_link', q)
        pose = model.forward_kinematics(q, 'arm_7_link')
        objective = IKObjective.fixed_pose('arm_7_link', pose[:3, :3], pose[:3, 3])
        seed = np.where(active, 0.0, q)        # the lift and arm_1 where q has them
        result = solve(model, [objective], seed, mode='global', active_joints=joints)
        assert result.success and result.iterations == 0            # an exact start


@pytest.mark.parametrize('path, link, count', [
    ('solo_description/robots/solo12.urdf', 'FL_LOWER_LEG', 2),     # the link on the knee axis
    ('kinova_description/robots/kinova.urdf', 'j2s6s200_link_3', 2),    # an axis reversed
    ('centauro_description/urdf/centauro.urdf', 'ankle1_1', 3),     # the middle one reversed
])
def test_planar_legs_and_arms_with_reversed_axes_have_their_closed_form(path, link, count):
    """A pose in the plane: one solution for 2R, elbow one way and the other for 3R."""
    model, active = _last_joints(path, link, count)
    form = ClosedForm.of(model, link, active)
    assert form is not None and form.family == 'PLANAR'
    rng = np.random.default_rng(9)
    for _ in range(20):
        q = np.zeros(model.num_dofs)
        q[form.dofs] = rng.uniform(-np.pi, np.pi, count)
        solutions = _exact_and_complete(model, form, link, q)
        assert len(solutions) == (1 if count == 2 else 2)
        assert form.describe(q[None])[0] == ['' if count == 2 else form.branches(q)[0]]


def test_a_5r_arm_reaches_poses_its_five_joints_give_and_the_position_and_axis_of_any():
    """UR5 without its last joint: every exact solution of a reachable pose; a hinge otherwise."""
    model = UR5_5R
    assert model.num_dofs == 5
    form = ClosedForm.of(model, 'tool0', np.ones(5, dtype=bool))
    assert form is not None and form.family.startswith('5R')
    rng = np.random.default_rng(5)
    limits = JointLimits.from_model(model)
    turn = np.array([[np.cos(0.3), -np.sin(0.3), 0], [np.sin(0.3), np.cos(0.3), 0], [0, 0, 1]])
    for q in limits.sample(rng, np.zeros(5), 10):
        pose = model.forward_kinematics(q, 'tool0')
        objective = IKObjective.fixed_pose('tool0', pose[:3, :3], pose[:3, 3])
        found = all_solutions(model, objective, q)
        assert np.abs(found[0] - q).max() < 1e-6                        # the seed's own
        for row in found:
            assert np.abs(model.forward_kinematics(row, 'tool0') - pose).max() < 1e-9
        assert form.describe(found) == ([''] * len(found), [[]] * len(found))  # no labels
        answer = solve(model, [objective], np.zeros(5), mode='global', random_seed=1)
        assert answer.success and answer.iterations == 0                # an exact start
        # turned about the tool's z axis: five joints cannot give that orientation here
        turned = IKObjective.fixed_pose('tool0', pose[:3, :3] @ turn, pose[:3, 3])
        assert len(all_solutions(model, turned, q)) == 0
        settings = SolverSettings(timeout=0.02)
        assert not solve(model, [turned], np.zeros(5), mode='global', settings=settings,
                         random_seed=1).success
        # its position and tool axis (a hinge: 5 constraints for 5 joints) are reachable
        axis = IKObjective.hinge('tool0', [0, 0, 0], pose[:3, 3], [0, 0, 1], pose[:3, 2])
        answer = solve(model, [axis], np.zeros(5), mode='global', random_seed=1)
        reached = model.forward_kinematics(answer.q, 'tool0')
        assert answer.success and np.abs(reached[:3, 3] - pose[:3, 3]).max() < 1e-4
        assert reached[:3, 2] @ pose[:3, 2] > 1 - 1e-8


def test_a_planar_3r_arm_has_an_elbow_up_and_an_elbow_down_answer_and_one_at_full_stretch():
    arm = load_urdf_string(planar_arm(lengths=(1.0, 0.8, 0.5)))
    form = ClosedForm.of(arm, 'tip', np.ones(3, dtype=bool))
    assert form is not None and form.family == 'PLANAR'

    def answers(q):
        pose = arm.forward_kinematics(np.asarray(q, dtype=float), 'tip')
        objective = IKObjective.fixed_pose('tip', pose[:3, :3], pose[:3, 3])
        found = all_solutions(arm, objective, np.zeros(3))
        for row in found:
            np.testing.assert_allclose(arm.forward_kinematics(row, 'tip'), pose, atol=1e-12)
        return found, form.branches(found)

    found, labels = answers([0.3, 0.9, -0.4])
    assert len(found) == 2 and sorted(labels) == ['elbow+', 'elbow-']
    np.testing.assert_allclose(found[0], [0.3, 0.9, -0.4], atol=1e-12)    # nearest the seed
    found, labels = answers([0.7, 0.0, 0.2])            # the first two links in a line
    assert len(found) == 1 and labels == ['elbow0']
    far = np.eye(4)
    far[:3, 3] = (3.0, 0.0, 0.0)                       # beyond 1.0 + 0.8 + 0.5 = 2.3 m
    assert len(form.solutions(far, np.zeros(3))) == 0
    tilted = arm.forward_kinematics(np.array([0.3, 0.9, -0.4]), 'tip')
    tilted[2, 3] += 0.01                                # off the arm's plane
    assert len(form.solutions(tilted, np.zeros(3))) == 0


def test_a_planar_2r_chain_puts_a_point_elbow_one_way_and_the_other():
    """A point's position alone: two solutions, one at full stretch, none beyond or off plane."""
    arm = load_urdf_string(planar_arm(lengths=(1.0, 0.8)))
    form = ClosedForm.of(arm, 'tip', np.ones(2, dtype=bool))
    assert form is not None and form.solves_points

    def answers(q, target=None):
        point = arm.forward_kinematics(np.asarray(q, dtype=float), 'tip')[:3, 3] \
            if target is None else np.asarray(target, dtype=float)
        found = all_solutions(arm, IKObjective.point('tip', [0, 0, 0], point), np.zeros(2))
        for row in found:
            np.testing.assert_allclose(arm.forward_kinematics(row, 'tip')[:3, 3], point,
                                       atol=1e-12)
        return found

    found = answers([0.3, 0.9])
    assert len(found) == 2
    np.testing.assert_allclose(found[0], [0.3, 0.9], atol=1e-12)         # nearest the seed
    np.testing.assert_allclose(found[1][1], -0.9, atol=1e-12)            # elbow the other way
    assert len(answers(None, [1.8, 0.0, 0.0])) == 1                      # at full stretch
    assert len(answers(None, [2.0, 0.0, 0.0])) == 0                      # beyond 1.8 m
    assert len(answers(None, [1.0, 0.5, 0.01])) == 0                     # off the plane
    # a leg's hip and knee, the foot at a position in their plane: knee back or forward
    solo = load_urdf_file(robot_path('solo_description/robots/solo12.urdf'))
    joints = ['FL_HFE', 'FL_KFE']
    q = np.zeros(solo.num_dofs)
    q[solo.dofs_named(joints)] = [0.4, -1.1]
    foot = IKObjective.point('FL_FOOT', [0, 0, 0], solo.forward_kinematics(q, 'FL_FOOT')[:3, 3])
    exact = exact_solutions(solo, [foot], q, active_joints=joints)
    assert len(exact) == 2
    np.testing.assert_allclose(exact[:, solo.dofs_named(joints)], [[0.4, -1.1], [-0.7, 1.1]],
                               atol=1e-12)
    answer = solve(solo, [foot], np.zeros(solo.num_dofs), mode='global', active_joints=joints)
    assert answer.success and answer.iterations == 0                    # an exact start


def test_every_turn_of_a_solution_inside_the_limits_nearest_the_seed_first():
    """closed_form._turned_configurations, which all_solutions' enumeration is."""
    two_pi = 2 * np.pi
    near = np.array([6.0, 0.0, 0.5])
    lower, upper = np.array([-7.0, -1.0, -np.inf]), np.array([7.0, 4.0, np.inf])
    # joint 1 has three turns inside its limits, joint 2 one, joint 3 none bounds it
    solutions = np.array([[0.1, 3.0, 0.4 + 2 * two_pi],
                          [0.2, 5.0, 0.0]])      # 5 and 5 - 2 pi: joint 2 has no turn inside
    out = np.empty((8, 3))
    count = closed_form._turned_configurations(solutions, lower, upper, near, out)
    assert count == 3
    np.testing.assert_allclose(out[:count, 0], [0.1 + two_pi, 0.1, 0.1 - two_pi])
    assert np.all(out[:count, 1] == 3.0)
    np.testing.assert_allclose(out[:count, 2], 0.4)          # unbounded: nearest the seed
    # a full buffer stops the enumeration
    assert closed_form._turned_configurations(solutions, lower, upper, near, out[:2]) == 2
