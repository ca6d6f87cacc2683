"""
Throughput of solve_batch against TRAC-IK solving the same targets one after another.

    .venv/bin/python bench/batch_bench.py [--targets 1000] [--robot ur5] [--rounds 3]

Random 6-D targets of the arm (in its base link) and random seeds; ik_service global mode
with its default settings, through ``solve_batch`` with 1 worker and one per core; TRAC-IK
(Speed, 5 ms) in one thread. Prints solves per second and the solve rate of each, and
whether the batch answers are bit-identical to ``solve`` one by one. The three run one
after the other, --rounds times (the machine's speed drifts within minutes, so each
ratio is to the TRAC-IK rate of its own round), and the median ratio over the rounds.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault('OPENBLAS_NUM_THREADS', '1')

from ik_bench import Arm, TracIK  # noqa: E402
from ik_service.core import IKObjective, JointLimits, solve  # noqa: E402
from ik_service.core.paths import solve_batch  # noqa: E402
import numpy as np  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--targets', type=int, default=1000)
    parser.add_argument('--robot', default='ur5')
    parser.add_argument('--rounds', type=int, default=3)
    args = parser.parse_args(argv)
    arm = Arm(args.robot)
    rng = np.random.default_rng(0)
    box = JointLimits(arm.lower, arm.upper, np.ones(len(arm.dofs), dtype=bool))
    goals = box.sample(rng, np.zeros(len(arm.dofs)), args.targets)
    seeds = box.sample(rng, np.zeros(len(arm.dofs)), args.targets)
    poses = [arm.pose(g) for g in goals]
    problems = []
    for pose in poses:
        t = arm.root_to_base @ pose
        problems.append([IKObjective.fixed_pose(arm.tip, t[:3, :3], t[:3, 3],
                                                ref_link=arm.base)])
    full_seeds = np.array([arm.full(s) for s in seeds])
    options = {'mode': 'global', 'active_joints': arm.names, 'random_seed': 0}

    trac = TracIK(arm, 0.005)
    alone = [solve(arm.model, p, s, **options).q for p, s in zip(problems, full_seeds)]
    ratios: dict[int, list] = {}
    for round_ in range(1, args.rounds + 1):
        started = time.perf_counter()
        trac_solved = sum(arm.solved(trac(p, s, k), p) for k, (p, s) in
                          enumerate(zip(poses, seeds)))
        trac_rate = args.targets / (time.perf_counter() - started)
        print(f'round {round_}: trac_ik, 1 thread: {trac_rate:8.0f} solves/s, '
              f'solved {trac_solved / args.targets:.1%}')
        for workers in (1, os.cpu_count() or 1):
            started = time.perf_counter()
            results = solve_batch(arm.model, problems, full_seeds, workers=workers, **options)
            rate = args.targets / (time.perf_counter() - started)
            solved = sum(arm.solved(r.q[arm.dofs], p) for r, p in zip(results, poses))
            same = all(np.array_equal(r.q, q) for r, q in zip(results, alone))
            ratios.setdefault(workers, []).append(rate / trac_rate)
            print(f'round {round_}: ik_service solve_batch, {workers} worker(s): {rate:8.0f} '
                  f'solves/s ({rate / trac_rate:.2f}x trac_ik), solved {solved / args.targets:.1%}'
                  f', identical to solve one by one: {same}')
    for workers, values in ratios.items():
        print(f'{workers} worker(s): median {np.median(values):.2f}x trac_ik over {len(values)} '
              f'rounds ({", ".join(f"{v:.2f}" for v in values)})')


if __name__ == '__main__':
    main()
