"""
Closed-form IK against the numerical solver and TRAC-IK, on the arms it covers.

    .venv/bin/python bench/closed_form_bench.py [--poses 1000] [--robots ur3 ur5 ur10 kinova z1]
        [--dense-starts 100]

(so101_planar: SO-101's shoulder lift, elbow and wrist flex, a planar 3R arm.)

For poses of random configurations (in the arm's base link): the closed form's exact
solutions (``ClosedForm.solutions``: every branch, angles in (-pi, pi]), ``all_solutions``
(every configuration inside the limits, verified by FK), the global ``solve`` (one answer,
which starts from the closed-form solutions) and TRAC-IK (one answer, 5 ms): median
microseconds per pose, solutions per pose, and the largest FK error of any returned
solution [m or rad].

Then the count of solutions against a dense numerical search: for each pose, local
descents (tolerance 1e-10) from ``--dense-starts`` random configurations with the arm's
joints free over [-2 pi, 2 pi] (the URDF limits would hide solutions the closed form
rightly returns), their answers taken modulo 2 pi and merged within 1e-4 rad (near a singular
configuration a descent stopped by its task-space tolerance is ~1e-5 rad from the exact
solution). Prints how
many poses have a solution the search found and the closed form lacks (a missed branch:
should be 0), how many have the same count, and how many have closed-form solutions the
search did not reach.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault('OPENBLAS_NUM_THREADS', '1')

from ik_bench import Arm, problems, TracIK  # noqa: E402
from ik_service.core import (all_solutions, ClosedForm, IKObjective, JointLimits,  # noqa: E402
                             solve, SolverSettings)
from ik_service.core.transforms import rotation_angle  # noqa: E402
import numpy as np  # noqa: E402


def fk_error(arm: Arm, q: np.ndarray, pose: np.ndarray) -> float:
    base = arm.model.forward_kinematics(q, arm.base)
    reached = np.linalg.inv(base) @ arm.model.forward_kinematics(q, arm.tip)
    return max(float(np.linalg.norm(reached[:3, 3] - pose[:3, 3])),
               float(rotation_angle(reached[:3, :3].T @ pose[:3, :3])))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--poses', type=int, default=1000)
    parser.add_argument('--robots', nargs='+', default=['ur3', 'ur5', 'ur10', 'kinova', 'z1'])
    parser.add_argument('--dense-starts', type=int, default=100,
                        help='random starts per pose of the dense search (0: no search)')
    args = parser.parse_args(argv)
    dense = {}
    print(f'{"robot":12s} {"method":28s} {"median us":>10s} {"solutions":>10s} '
          f'{"max FK error":>13s}')
    for key in args.robots:
        arm = Arm(key)
        active = np.zeros(arm.model.num_dofs, dtype=bool)
        active[arm.dofs] = True
        form = ClosedForm.of(arm.model, arm.tip, active)
        assert form.dofs.tolist() == arm.dofs.tolist()
        trac = TracIK(arm, 0.005)
        cases = []
        for k, (target, seed) in enumerate(problems(arm, args.poses, np.random.default_rng(0))):
            pose = arm.root_to_base @ target
            cases.append((k, target, seed, arm.full(seed), pose, IKObjective.fixed_pose(
                arm.tip, pose[:3, :3], pose[:3, 3], ref_link=arm.base)))
        methods = {
            f'exact solutions ({"planar" if form.family == "PLANAR" else "EAIK"})':
                lambda k, target, seed, full_seed, objective:
                form.solutions(target, full_seed),
            'all_solutions': lambda k, target, seed, full_seed, objective:
                all_solutions(arm.model, objective, full_seed, active=active),
            'solve, global': lambda k, target, seed, full_seed, objective: [
                r.q for r in [solve(arm.model, [objective], full_seed, mode='global',
                                    random_seed=k, active_joints=arm.names)] if r.success],
            'TRAC-IK': lambda k, target, seed, full_seed, objective:
                [q for q in [trac(target, seed, k)] if q is not None],
        }
        rows = {}
        for name, method in methods.items():     # each in its own loop: warm caches alike
            times, answers = [], []
            for k, target, seed, full_seed, pose, objective in cases:
                started = time.perf_counter()
                answers.append(method(k, target, seed, full_seed, objective))
                times.append(time.perf_counter() - started)
            errors = [fk_error(arm, _place(arm, q), c[4]) for found, c in zip(answers, cases)
                      for q in found]
            rows[name] = (times, [len(f) for f in answers], errors)
        for name, (times, counts, errors) in rows.items():
            print(f'{key:12s} {name:28s} {np.median(times) * 1e6:10.1f} '
                  f'{np.mean(counts):10.2f} {max(errors, default=0.0):13.1e}', flush=True)
        if args.dense_starts:
            dense[key] = dense_search(arm, form, cases, args.dense_starts)
    if dense:
        print(f'\n{"robot":12s} {"poses":>6s} {"exact per pose":>15s} {"found per pose":>15s} '
              f'{"closed form lacks one":>22s} {"same count":>11s} {"search missed":>14s}')
        for key, c in dense.items():
            print(f'{key:12s} {c["poses"]:6d} {c["exact"]:15.2f} {c["found"]:15.2f} '
                  f'{c["lacks"]:22d} {c["same"]:11d} {c["missed"]:14d}')


# Two solutions closer than this [rad, every joint] are one: near a singular configuration a
# descent stopped by a 1e-10 task-space tolerance is ~1e-5 rad from the exact solution.
SAME_SOLUTION = 1e-4


def angle_gap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Largest difference of angles modulo 2 pi between rows of a (A, k) and b (B, k): (A, B)."""
    d = np.abs(a[:, None, :] - b[None, :, :]) % (2 * np.pi)
    return np.minimum(d, 2 * np.pi - d).max(axis=2)


def _within(rows: np.ndarray, others: np.ndarray) -> bool:
    """Tell whether each of rows (A, k) is one of others (B, k), modulo 2 pi."""
    return bool(len(others)) and angle_gap(rows, others).min(axis=1).max() <= SAME_SOLUTION


def dense_search(arm: Arm, form: ClosedForm, cases: list, starts: int) -> dict:
    """Compare each pose's exact solutions with those local descents from random starts find."""
    model = arm.model
    limits = JointLimits.from_model(model)
    lower, upper = limits.lower.copy(), limits.upper.copy()
    lower[arm.dofs], upper[arm.dofs] = -2 * np.pi, 2 * np.pi
    wide = JointLimits(lower, upper, limits.is_angle)
    settings = SolverSettings(tolerance=1e-10, max_iterations=200)
    out = {'poses': len(cases), 'exact': 0.0, 'found': 0.0, 'lacks': 0, 'same': 0, 'missed': 0}
    for k, target, seed, full_seed, pose, objective in cases:
        exact = form.solutions(target, full_seed)
        found = np.zeros((0, len(arm.dofs)))
        for s in range(starts):
            r = solve(model, [objective], full_seed, mode='local', random_start=True,
                      random_seed=k * starts + s, settings=settings, limits=wide,
                      active_joints=arm.names)
            q = r.q[arm.dofs][None]
            if r.success and (not len(found) or angle_gap(q, found).min() > SAME_SOLUTION):
                found = np.concatenate([found, q])
        out['exact'] += len(exact) / len(cases)
        out['found'] += len(found) / len(cases)
        out['lacks'] += bool(len(found)) and not _within(found, exact)
        out['missed'] += bool(len(exact)) and not _within(exact, found)
        out['same'] += len(found) == len(exact)
    return out


def _place(arm: Arm, q: np.ndarray) -> np.ndarray:
    """Return a full configuration: q itself, or the arm's joint values (the others at 0)."""
    if len(q) == arm.model.num_dofs:
        return q
    full = np.zeros(arm.model.num_dofs)
    full[arm.dofs] = q
    return full


if __name__ == '__main__':
    main()
