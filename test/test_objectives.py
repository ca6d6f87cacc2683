"""Objective residuals: row counts, zeros at solutions, Jacobians by finite differences."""

from ik_service.core import (
    IKObjective,
    InvalidObjectiveError,
    JointLimits,
    load_urdf_file,
    load_urdf_string,
    ObjectiveSet,
    residual_and_jacobian,
    solve,
    UnknownFrameError,
    UnknownLinkError,
)
import numpy as np
import pytest
from robots import ARMS, planar_arm, robot_path
from scipy.spatial.transform import Rotation

PANDA = load_urdf_file(robot_path(ARMS['panda'][0]))
N = PANDA.num_dofs
Q = np.zeros(N)
Q[:7] = [0.3, -0.4, 0.2, -2.0, 0.1, 1.8, 0.5]


def pose(link, q=Q):
    return PANDA.forward_kinematics(q, link)


def objectives_at(q):
    """One objective of every kind, each exactly satisfied at configuration q."""
    hand, l4 = pose('panda_hand', q), pose('panda_link4', q)
    local = np.array([0.02, -0.01, 0.1])
    p = hand[:3, :3] @ local + hand[:3, 3]
    axis_local = np.array([0.0, 0.0, 1.0])
    axis_world = hand[:3, :3] @ axis_local
    rel = np.linalg.inv(l4) @ hand
    normal = np.array([0.2, 0.3, 0.9])
    return {
        'point': IKObjective.point('panda_hand', local, p),
        'pose': IKObjective.fixed_pose('panda_hand', hand[:3, :3], hand[:3, 3]),
        'hinge': IKObjective.hinge('panda_hand', local, p, axis_local, axis_world),
        'surface': IKObjective.surface(
            'panda_hand',
            local,
            p + np.cross(normal, [1, 0, 0]) * 0.3,
            normal,
            axis_local,
            axis_world,
        ),
        'plane': IKObjective.on_plane(
            'panda_hand', local, p + np.cross(normal, [0, 1, 0]), normal
        ),
        'line': IKObjective.on_line('panda_hand', local, p + 0.4 * normal, normal),
        'rotation': IKObjective.fixed_rotation('panda_hand', hand[:3, :3]),
        'three points': IKObjective.from_points(
            'panda_hand',
            [[0, 0, 0], [0.1, 0, 0], [0, 0.1, 0]],
            [hand[:3, 3], hand[:3, 3] + 0.1 * hand[:3, 0], hand[:3, 3] + 0.1 * hand[:3, 1]],
        ),
        'relative pose': IKObjective.fixed_pose(
            'panda_hand', rel[:3, :3], rel[:3, 3], ref_link='panda_link4'
        ),
        'relative hinge': IKObjective.hinge(
            'panda_hand',
            local,
            (np.linalg.inv(l4) @ np.append(p, 1))[:3],
            axis_local,
            l4[:3, :3].T @ axis_world,
            ref_link='panda_link4',
        ),
    }


ROWS = {
    'point': 3,
    'pose': 6,
    'hinge': 5,
    'surface': 3,
    'plane': 1,
    'line': 2,
    'rotation': 3,
    'three points': 9,
    'relative pose': 6,
    'relative hinge': 5,
}


@pytest.mark.parametrize('kind', sorted(ROWS))
def test_row_counts_and_zero_residual_at_the_solution(kind):
    objective = objectives_at(Q)[kind]
    problem = ObjectiveSet(PANDA, [objective])
    assert objective.num_rows == ROWS[kind] == problem.num_rows
    residual, jac = problem.evaluate(Q[None])
    assert residual.shape == (1, ROWS[kind]) and jac.shape == (1, ROWS[kind], N)
    assert np.abs(residual).max() < 1e-12


@pytest.mark.parametrize('kind', sorted(ROWS))
def test_jacobian_matches_finite_differences_at_and_away_from_the_solution(kind):
    # every Jacobian is exact: at the solution and at random configurations far from it
    problem = ObjectiveSet(PANDA, [objectives_at(Q)[kind]])
    rng = np.random.default_rng(0)
    far = JointLimits.from_model(PANDA).sample(rng, Q, 3)
    for q, tol in [(Q, 1e-6)] + [(f, 1e-6) for f in far]:
        _, jac = problem.evaluate(q[None])
        eps = 1e-6
        for k in range(N):
            dq = np.zeros(N)
            dq[k] = eps
            fd = (
                problem.evaluate((q + dq)[None], False)[0]
                - problem.evaluate((q - dq)[None], False)[0]
            ) / (2 * eps)
            np.testing.assert_allclose(jac[0, :, k], fd[0], atol=tol)


def _finite_difference_jacobian(problem, q, eps=1e-6):
    columns = []
    for k in range(len(q)):
        dq = np.zeros(len(q))
        dq[k] = eps
        columns.append((problem.evaluate((q + dq)[None], False)[0][0]
                        - problem.evaluate((q - dq)[None], False)[0][0]) / (2 * eps))
    return np.stack(columns, axis=1)


@pytest.mark.parametrize('degrees', [1, 30, 90, 120, 150, 179])
@pytest.mark.parametrize('kind', ['axis', 'hinge', 'surface', 'relative axis'])
def test_axial_jacobian_matches_finite_differences_far_from_the_solution(kind, degrees):
    # The target axis is the current one turned by `degrees` about a perpendicular: the
    # axial rows are exact derivatives there too (Klampt's semantics), not the angular
    # velocity that only matches at the solution.
    hand, l4 = pose('panda_hand'), pose('panda_link4')
    local_axis = np.array([0.2, -0.3, 0.9]) / np.linalg.norm([0.2, -0.3, 0.9])
    current = hand[:3, :3] @ local_axis
    turn = Rotation.from_rotvec(np.radians(degrees) * np.cross(current, [0.3, 0.8, -0.1])
                                / np.linalg.norm(np.cross(current, [0.3, 0.8, -0.1])))
    target = turn.apply(current)
    local = np.array([0.02, -0.01, 0.1])
    p = hand[:3, :3] @ local + hand[:3, 3] + 0.05
    objective = {
        'axis': IKObjective('panda_hand', position='none', rotation='axial',
                            local_axis=local_axis, target_axis=target),
        'hinge': IKObjective.hinge('panda_hand', local, p, local_axis, target),
        'surface': IKObjective.surface('panda_hand', local, p, [0, 0.6, 0.8], local_axis,
                                       target),
        'relative axis': IKObjective('panda_hand', 'panda_link4', position='none',
                                     rotation='axial', local_axis=local_axis,
                                     target_axis=l4[:3, :3].T @ target),
    }[kind]
    problem = ObjectiveSet(PANDA, [objective])
    residual, jac = problem.evaluate(Q[None])
    angle = problem.objective_errors(residual[0])[0][1]
    assert angle == pytest.approx(np.radians(degrees), abs=1e-9)
    np.testing.assert_allclose(jac[0], _finite_difference_jacobian(problem, Q), atol=1e-6)


def test_a_local_solve_turns_an_axis_150_degrees_away():
    # J^T r pointed away from the solution past 90 degrees with the approximate Jacobian:
    # this stalled at the seed.
    from ik_service.core import solve
    hand = pose('panda_hand')
    current = hand[:3, 2]
    perpendicular = np.cross(current, [0.0, 1.0, 0.0])
    target = Rotation.from_rotvec(np.radians(150) * perpendicular
                                  / np.linalg.norm(perpendicular)).apply(current)
    objective = IKObjective('panda_hand', position='none', rotation='axial',
                            local_axis=[0, 0, 1], target_axis=target)
    result = solve(PANDA, [objective], Q, mode='local')
    assert result.success, result.stop_reason
    assert pose('panda_hand', result.q)[:3, 2] @ target > np.cos(1e-4)


def test_errors_are_distances_and_angles():
    hand = pose('panda_hand')
    shifted = hand[:3, 3] + np.array([0.03, 0.04, 0.0])  # 5 cm away
    turned = hand[:3, :3] @ Rotation.from_rotvec([0, 0, 0.2]).as_matrix()  # 0.2 rad about z
    problem = ObjectiveSet(PANDA, [IKObjective.fixed_pose('panda_hand', turned, shifted)])
    residual, _ = problem.evaluate(Q[None], False)
    ((position, rotation),) = problem.objective_errors(residual[0])
    assert position == pytest.approx(0.05, abs=1e-12)
    assert rotation == pytest.approx(0.2, abs=1e-12)


def test_half_turn_rotation_error_is_pi_not_zero():
    hand = pose('panda_hand')
    for eps in (0.0, 1e-4, 1e-3):
        flipped = hand[:3, :3] @ Rotation.from_rotvec([np.pi - eps, 0, 0]).as_matrix()
        problem = ObjectiveSet(PANDA, [IKObjective.fixed_rotation('panda_hand', flipped)])
        residual, _ = problem.evaluate(Q[None], False)
        assert problem.max_error(residual)[0] == pytest.approx(np.pi - eps, abs=1e-9)


def test_opposite_axes_give_an_error_of_pi():
    hand = pose('panda_hand')
    problem = ObjectiveSet(
        PANDA, [IKObjective.hinge('panda_hand', [0, 0, 0], hand[:3, 3], [0, 0, 1], -hand[:3, 2])]
    )
    residual, _ = problem.evaluate(Q[None], False)
    assert problem.max_error(residual)[0] == pytest.approx(np.pi)


def test_default_active_dofs_are_the_ancestors_of_constrained_links():
    problem = ObjectiveSet(PANDA, [IKObjective.point('panda_link4', [0, 0, 0], [0.3, 0, 0.5])])
    assert [PANDA.joint_names[i] for i in np.flatnonzero(problem.default_active)] == [
        'panda_joint1',
        'panda_joint2',
        'panda_joint3',
        'panda_joint4',
    ]


@pytest.mark.parametrize(
    'build, fragment',
    [
        (
            lambda: IKObjective('panda_hand', position='none', rotation='none'),
            'constrains nothing',
        ),
        (lambda: IKObjective.point('panda_hand', [0, 0, 0], [np.nan, 0, 0]), 'finite'),
        (lambda: IKObjective.point('panda_hand', [0, 0, np.inf], [0, 0, 0]), 'finite'),
        (lambda: IKObjective.on_plane('panda_hand', [0, 0, 0], [0, 0, 0], [0, 0, 0]), 'non-zero'),
        (
            lambda: IKObjective.hinge('panda_hand', [0, 0, 0], [0, 0, 0], [0, 0, 1], [0, 0, 0]),
            'non-zero',
        ),
        (lambda: IKObjective.fixed_rotation('panda_hand', np.eye(3) * 2), 'not a rotation'),
        (lambda: IKObjective.fixed_rotation('panda_hand', np.diag([1.0, 1.0, np.nan])),
         'finite 3x3'),
        (lambda: IKObjective.fixed_rotation('panda_hand', np.diag([np.inf, 1.0, 1.0])),
         'finite 3x3'),
        (
            lambda: IKObjective.fixed_rotation('panda_hand', np.diag([1.0, 1.0, -1.0])),
            'not a rotation',
        ),
        (
            lambda: IKObjective.from_points('panda_hand', [[0, 0, 0]], [[0, 0, 0], [1, 0, 0]]),
            'one target point',
        ),
        (lambda: IKObjective('panda_hand', position='cubic'), 'position type'),
        (lambda: IKObjective.point('panda_hand', [0, 0, 0], [2e6, 0, 0]), 'within'),
    ],
)
def test_malformed_objectives_are_refused(build, fragment):
    with pytest.raises(InvalidObjectiveError, match=fragment):
        build()


def test_unknown_link_and_frame_names_list_the_closest_names():
    with pytest.raises(UnknownLinkError, match='panda_hand'):
        ObjectiveSet(PANDA, [IKObjective.point('panda_hnd', [0, 0, 0], [0, 0, 0])])
    with pytest.raises(UnknownFrameError, match='reference frame'):
        ObjectiveSet(
            PANDA, [IKObjective.point('panda_hand', [0, 0, 0], [0, 0, 0], ref_link='world2')]
        )
    with pytest.raises(InvalidObjectiveError, match='no objectives'):
        ObjectiveSet(PANDA, [])


def test_batch_residuals_equal_single_residuals():
    problem = ObjectiveSet(PANDA, list(objectives_at(Q).values()))
    qs = JointLimits.from_model(PANDA).sample(np.random.default_rng(5), Q, 6)
    r_batch, j_batch = problem.evaluate(qs)
    for q, r, j in zip(qs, r_batch, j_batch):
        r1, j1 = problem.evaluate(q[None])
        np.testing.assert_allclose(r1[0], r, atol=1e-14)
        np.testing.assert_allclose(j1[0], j, atol=1e-14)


def test_largest_errors_over_some_dofs_are_those_of_the_whole_configurations():
    # every objective kind at once; the hand's chain varies, the fingers stay at Q's
    problem = ObjectiveSet(PANDA, list(objectives_at(Q).values()))
    idx = np.arange(7)
    qs = JointLimits.from_model(PANDA).sample(np.random.default_rng(6), Q, 8)
    qs[:, 7:] = Q[7:]
    expected = problem.max_error(problem.evaluate(qs, jacobian=False)[0])
    np.testing.assert_allclose(problem.max_errors_at(qs[:, idx], idx, Q), expected,
                               rtol=1e-12, atol=1e-15)
    assert (expected > 1e-3).all()      # away from the targets: errors that tell apart
    # no NaN configuration passes a tolerance test
    broken = qs[:2, idx].copy()
    broken[1, 3] = np.nan
    errors = problem.max_errors_at(broken, idx, Q)
    assert np.isfinite(errors[0]) and np.isnan(errors[1])


def test_a_huge_direction_is_normalised_not_overflowed():
    goal = IKObjective.on_plane('panda_hand', [0, 0, 0], [0.4, 0, 0.5], [1e308, 1e308, 0.0])
    np.testing.assert_allclose(goal.direction, [np.sqrt(0.5), np.sqrt(0.5), 0.0])


MOUNTED = load_urdf_string(planar_arm(extra=(
    '<link name="mount"/><joint name="mount_joint" type="fixed"><parent link="base"/>'
    '<child link="mount"/><origin xyz="0.3 0.2 0.1" rpy="0.4 0 1.2"/></joint>')))


@pytest.mark.parametrize('build', [
    lambda rel: IKObjective.fixed_pose('tip', rel[:3, :3], rel[:3, 3] + [0.05, -0.02, 0.01],
                                       ref_link='mount'),
    lambda rel: IKObjective.hinge('tip', [0, 0, 0], rel[:3, 3] + [0.05, -0.02, 0.01],
                                  [0, 0, 1], rel[:3, :3] @ [0.0, 0.6, 0.8], ref_link='mount'),
])
def test_targets_in_a_link_fixed_off_the_root_are_in_that_links_frame(build):
    """A base link that no joint moves, away from the root: residual by FK, Jacobian by FD."""
    q = np.array([0.3, -0.7, 1.1])
    mount = MOUNTED.forward_kinematics(q, 'mount')
    tip = MOUNTED.forward_kinematics(q, 'tip')
    objective = build(np.linalg.inv(mount) @ tip)
    residual, jacobian = residual_and_jacobian(MOUNTED, [objective], q)
    in_mount = (np.linalg.inv(mount) @ tip)[:3, 3]
    np.testing.assert_allclose(residual[:3], in_mount - objective.target_points[0], atol=1e-12)
    numeric = np.column_stack([
        (residual_and_jacobian(MOUNTED, [objective], q + d)[0]
         - residual_and_jacobian(MOUNTED, [objective], q - d)[0]) / 2e-6
        for d in np.eye(3) * 1e-6])
    np.testing.assert_allclose(jacobian, numeric, atol=1e-7)
    solved = solve(MOUNTED, [objective], q, mode='global')
    reached = np.linalg.inv(mount) @ MOUNTED.forward_kinematics(solved.q, 'tip')
    error = np.linalg.norm(reached[:3, 3] - objective.target_points[0])
    assert solved.objective_errors[0][0] == pytest.approx(error, abs=1e-12)
