"""
Closed-form IK against the numerical solver and TRAC-IK, on the 6R arms it covers.

    .venv/bin/python bench/closed_form_bench.py [--poses 1000] [--robots ur3 ur5 ur10 kinova z1]

For poses of random configurations (in the arm's base link): the closed form's exact
solutions (``ClosedForm.solutions``: every branch, angles in (-pi, pi]), ``all_solutions``
(every configuration inside the limits, verified by FK), the global ``solve`` (one answer,
which starts from the closed-form solutions) and TRAC-IK (one answer, 5 ms): median
microseconds per pose, solutions per pose, and the largest FK error of any returned
solution [m or rad].
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault('OPENBLAS_NUM_THREADS', '1')

from ik_bench import Arm, problems, TracIK  # noqa: E402
from ik_service.core import all_solutions, ClosedForm, IKObjective, solve  # noqa: E402
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
    args = parser.parse_args(argv)
    print(f'{"robot":7s} {"method":28s} {"median us":>10s} {"solutions":>10s} '
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
            'exact solutions (EAIK)': lambda k, target, seed, full_seed, objective:
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
            print(f'{key:7s} {name:28s} {np.median(times) * 1e6:10.1f} '
                  f'{np.mean(counts):10.2f} {max(errors, default=0.0):13.1e}', flush=True)


def _place(arm: Arm, q: np.ndarray) -> np.ndarray:
    """Return a full configuration: q itself, or the arm's joint values (the others at 0)."""
    if len(q) == arm.model.num_dofs:
        return q
    full = np.zeros(arm.model.num_dofs)
    full[arm.dofs] = q
    return full


if __name__ == '__main__':
    main()
