"""
The pose kernel against the general objective code: the same residual and normal equations.

The solver uses PoseKernel for single point or pose targets and ObjectiveSet.evaluate for
everything else, so the two must agree to rounding on every robot shape: serial arms,
trees, mimic and prismatic joints, points off the link origin, active-dof subsets and
rotations near a half turn. The kernel's descent rows for a rotation are 2 sin(angle / 2)
axis where the general code has angle * axis; its reported residual is the same.
"""

from ik_service.core import IKObjective, JointLimits, load_urdf_file, load_urdf_string
from ik_service.core.normal_equations import NormalEquations
from ik_service.core.objectives import ObjectiveSet
from ik_service.core.pose_kernel import PoseKernel
import numpy as np
import pytest
from robots import ARMS, dual_arm, gripper_with_mimic_and_prismatic, robot_path
from scipy.spatial.transform import Rotation


def _terms_both_ways(model, objective, q, active=None):
    """
    Return the kernel's terms and the general code's, as NormalEquations at q (B, n).

    The general code's rotation rows are turned into the kernel's descent rows first;
    the kernel's reported residual is checked against the general one here.
    """
    problem = ObjectiveSet(model, [objective])
    idx = np.flatnonzero(problem.default_active) if active is None else np.asarray(active)
    columns = problem.kinematics.dof_map[:, idx]
    kernel = PoseKernel.for_problem(problem, columns)
    assert kernel is not None
    v = problem.kinematics.frame_values(q)
    fast = NormalEquations(len(q), len(idx), problem.num_rows)
    kernel.evaluate(v, fast)
    residual, jacobian = problem.evaluate(q, True, columns)
    np.testing.assert_allclose(kernel.residual(v), residual, atol=1e-12)
    for i in range(len(q)):    # one row at a time, as results are reported: plain floats
        np.testing.assert_allclose(kernel.residual(v[:, i:i + 1])[0], residual[i], atol=1e-12)
    for fast_row, row in zip(fast.r, residual):
        np.testing.assert_allclose(kernel.reported(fast_row), row, atol=1e-9)
    if objective.rotation == 'fixed':        # angle * axis -> 2 sin(angle / 2) axis
        angle = np.linalg.norm(residual[:, -3:], axis=1, keepdims=True)
        residual[:, -3:] *= np.where(angle > 0, 2 * np.sin(angle / 2) / np.maximum(angle, 1e-300),
                                     1.0)
    general = NormalEquations(len(q), len(idx), problem.num_rows)
    general.set_from_jacobian(residual, jacobian)
    return fast, general


def _assert_same(fast, general):
    np.testing.assert_allclose(fast.r, general.r, atol=1e-12)
    np.testing.assert_allclose(fast.jacobian, general.jacobian, atol=1e-12)
    np.testing.assert_allclose(fast.gram, general.gram, rtol=1e-12, atol=1e-12)


def _random_pose(model, link, rng):
    q = JointLimits.from_model(model).sample(rng, np.zeros(model.num_dofs), 1)[0]
    return model.forward_kinematics(q, link)


@pytest.mark.parametrize('arm', sorted(ARMS))
@pytest.mark.parametrize('kind', ['pose', 'point', 'rotation', 'offset point'])
def test_kernel_matches_the_general_code_on_real_arms(arm, kind):
    path, tip = ARMS[arm]
    model = load_urdf_file(robot_path(path))
    rng = np.random.default_rng(7)
    target = _random_pose(model, tip, rng)
    objective = {
        'pose': IKObjective.fixed_pose(tip, target[:3, :3], target[:3, 3]),
        'point': IKObjective.point(tip, [0, 0, 0], target[:3, 3]),
        'rotation': IKObjective.fixed_rotation(tip, target[:3, :3]),
        'offset point': IKObjective.fixed_pose(tip, target[:3, :3], target[:3, 3],
                                               local_point=[0.05, -0.02, 0.1]),
    }[kind]
    q = JointLimits.from_model(model).sample(rng, np.zeros(model.num_dofs), 8)
    _assert_same(*_terms_both_ways(model, objective, q))


def test_kernel_matches_on_a_tree_with_an_active_subset():
    model = load_urdf_string(dual_arm())
    rng = np.random.default_rng(3)
    target = _random_pose(model, 'left_tip', rng)
    objective = IKObjective.fixed_pose('left_tip', target[:3, :3], target[:3, 3])
    q = JointLimits.from_model(model).sample(rng, np.zeros(model.num_dofs), 5)
    _assert_same(*_terms_both_ways(model, objective, q))
    subset = [model.joint_id('left_j2'), model.joint_id('left_j3')]
    _assert_same(*_terms_both_ways(model, objective, q, active=subset))


def test_kernel_matches_with_mimic_and_prismatic_joints():
    model = load_urdf_string(gripper_with_mimic_and_prismatic())
    rng = np.random.default_rng(5)
    target = _random_pose(model, 'finger_b', rng)
    objective = IKObjective.point('finger_b', [0.01, 0.0, 0.02], target[:3, 3])
    q = JointLimits.from_model(model).sample(rng, np.zeros(model.num_dofs), 6)
    _assert_same(*_terms_both_ways(model, objective, q))


def test_kernel_matches_within_a_hair_of_a_half_turn():
    path, tip = ARMS['ur5']
    model = load_urdf_file(robot_path(path))
    q = np.array([0.3, -1.0, 1.2, 0.4, 0.9, 0.2])
    pose = model.forward_kinematics(q, tip)
    turned = pose[:3, :3] @ Rotation.from_rotvec([0.0, 0.0, np.pi - 1e-4]).as_matrix()
    objective = IKObjective.fixed_rotation(tip, turned)
    fast, general = _terms_both_ways(model, objective, q[None])
    _assert_same(fast, general)
    assert np.linalg.norm(fast.r[0]) == pytest.approx(2 * np.sin((np.pi - 1e-4) / 2), abs=1e-12)
    v = ObjectiveSet(model, [objective]).kinematics.frame_values(q[None])
    reported = PoseKernel.for_problem(ObjectiveSet(model, [objective]), False).residual(v)
    assert np.linalg.norm(reported[0]) == pytest.approx(np.pi - 1e-4, abs=1e-9)


def test_problems_the_kernel_does_not_take():
    model = load_urdf_string(dual_arm())
    hinge = IKObjective.hinge('left_tip', [0, 0, 0], [0.3, 0.2, 0.6], [0, 0, 1], [0, 0, 1])
    relative = IKObjective.point('left_tip', [0, 0, 0], [0.1, 0, 0], ref_link='right_tip')
    two = [IKObjective.point('left_tip', [0, 0, 0], [0.3, 0.2, 0.6]),
           IKObjective.point('right_tip', [0, 0, 0], [0.3, -0.2, 0.6])]
    for objectives in ([hinge], [relative], two):
        problem = ObjectiveSet(model, objectives)
        assert PoseKernel.for_problem(problem, False) is None


def test_normal_equations_hold_views_of_one_row():
    eq = NormalEquations(3, 4, 5)
    rng = np.random.default_rng(0)
    jac, r = rng.normal(size=(3, 5, 4)), rng.normal(size=(3, 5))
    eq.set_from_jacobian(r, jac)
    for view in (eq.x, eq.jacobian, eq.r, eq.h, eq.g, eq.cost):
        assert np.shares_memory(view, eq.data)
    np.testing.assert_allclose(eq.h, jac.transpose(0, 2, 1) @ jac)
    np.testing.assert_allclose(eq.g, np.einsum('bmk,bm->bk', jac, r))
    np.testing.assert_allclose(eq.cost, np.sum(r * r, axis=1))
    other = NormalEquations(3, 4, 5)
    other.data[...] = -1.0
    eq.take(other, np.array([False, True, False]))
    assert (eq.data[1] == -1.0).all() and not (eq.data[[0, 2]] == -1.0).any()
