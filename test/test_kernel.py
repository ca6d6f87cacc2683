"""
The compiled kernel, checked against SciPy and finite differences.

Rotation errors at every angle, exact Jacobians far from the solution, and answers that
depend neither on the batch nor on other threads.
"""

import threading

from ik_service.core import (IKObjective, JointLimits, kernel, load_urdf_file, ObjectiveSet,
                             residual_and_jacobian, solve)
import numpy as np
import pytest
from robots import ARMS, robot_path
from scipy.spatial.transform import Rotation

PANDA = load_urdf_file(robot_path(ARMS['panda'][0]))
Q = np.zeros(PANDA.num_dofs)
Q[:7] = [0.3, -0.4, 0.2, -2.0, 0.1, 1.8, 0.5]
HAND = PANDA.forward_kinematics(Q, 'panda_hand')


def _finite_differences(objectives, q, eps=1e-6):
    return np.stack([(residual_and_jacobian(PANDA, objectives, q + dq)[0]
                      - residual_and_jacobian(PANDA, objectives, q - dq)[0]) / (2 * eps)
                     for dq in np.eye(len(q)) * eps], axis=1)


@pytest.mark.parametrize('angle', [0.0, 1e-9, 1e-5, 0.5, 2.0, 3.0, np.pi - 1e-4, np.pi - 1e-7,
                                   np.pi])
def test_fixed_rotation_residual_is_the_rotation_vector_at_every_angle(angle):
    turn = Rotation.from_rotvec(angle * np.array([0.48, -0.6, 0.64]))
    target = turn.inv().as_matrix() @ HAND[:3, :3]      # R R_t^T = turn
    residual, _ = residual_and_jacobian(PANDA, [IKObjective.fixed_rotation('panda_hand', target)],
                                        Q)
    expected = turn.as_rotvec()
    if angle > np.pi - 1e-3:       # near a half turn the sign of the axis is free
        assert np.linalg.norm(residual) == pytest.approx(angle, abs=1e-6)
        assert abs(residual @ expected) == pytest.approx(angle * angle, abs=1e-5)
    else:
        np.testing.assert_allclose(residual, expected, atol=1e-9)


@pytest.mark.parametrize('degrees', [10, 90, 150, 179])
@pytest.mark.parametrize('kind', ['rotation', 'pose', 'relative pose'])
def test_rotation_jacobians_are_exact_far_from_the_solution(kind, degrees):
    turn = Rotation.from_rotvec(np.radians(degrees) * np.array([0.0, 0.6, 0.8])).as_matrix()
    target = turn @ HAND[:3, :3]
    l4 = PANDA.forward_kinematics(Q, 'panda_link4')
    objective = {
        'rotation': IKObjective.fixed_rotation('panda_hand', target),
        'pose': IKObjective.fixed_pose('panda_hand', target, HAND[:3, 3] + 0.1),
        'relative pose': IKObjective.fixed_pose('panda_hand', l4[:3, :3].T @ target,
                                                [0.1, 0.2, 0.3], ref_link='panda_link4'),
    }[kind]
    _, jac = residual_and_jacobian(PANDA, [objective], Q)
    np.testing.assert_allclose(jac, _finite_differences([objective], Q), atol=1e-6)


def test_rows_do_not_depend_on_the_batch():
    problem = ObjectiveSet(PANDA, [IKObjective.fixed_pose('panda_hand', HAND[:3, :3],
                                                          HAND[:3, 3] + 0.05)])
    rng = np.random.default_rng(4)
    qs = JointLimits.from_model(PANDA).sample(rng, Q, 9)
    together = problem.evaluate(qs)
    for i, q in enumerate(qs):
        alone = problem.evaluate(q[None])
        assert np.array_equal(alone[0][0], together[0][i])
        assert np.array_equal(alone[1][0], together[1][i])


def test_solves_in_threads_give_the_answers_of_solves_in_turn():
    rng = np.random.default_rng(5)
    goals = JointLimits.from_model(PANDA).sample(rng, Q, 12)
    objectives = [[IKObjective.fixed_pose('panda_hand', t[:3, :3], t[:3, 3])]
                  for t in (PANDA.forward_kinematics(g, 'panda_hand') for g in goals)]

    def run(k):
        return solve(PANDA, objectives[k], np.zeros(PANDA.num_dofs), mode='global',
                     random_seed=k)
    in_turn = [run(k) for k in range(len(goals))]
    in_threads = [None] * len(goals)

    def worker(ks):
        for k in ks:
            in_threads[k] = run(k)
    threads = [threading.Thread(target=worker, args=(range(t, len(goals), 3),))
               for t in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for a, b in zip(in_turn, in_threads):
        assert a.success and b.success
        assert np.array_equal(a.q, b.q) and a.iterations == b.iterations


def test_the_kernel_releases_the_gil():
    # nogil: numba marks the dispatcher's options; the threads above only run in
    # parallel because of it
    for function in (kernel.descend, kernel.evaluate_batch, kernel.residual_rows):
        assert function.targetoptions.get('nogil') is True


def test_the_largest_block_error_is_nan_when_any_block_holds_a_nan():
    blocks = np.array([[0, 3], [3, 6]], dtype=np.int64)
    res = np.array([0.03, 0.0, 0.04, 0.0, 0.0, 0.0])
    assert kernel.max_block_error(res, blocks) == pytest.approx(0.05, abs=1e-15)
    for row in range(6):        # a NaN in either block, before or after the larger one
        broken = res.copy()
        broken[row] = np.nan
        assert np.isnan(kernel.max_block_error(broken, blocks))
