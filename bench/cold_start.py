"""
How much slower a solve is when it runs cold: after another solver's block, or after idling.

    .venv/bin/python bench/cold_start.py [ur5|panda|z1] [--targets 500]

ik_bench.py lets the solvers take turns in blocks of 25 targets; this prints ik_service's
median time [us] by position in its block when TRAC-IK's block runs in between (as in
the bench), and the first and the later solves of a block after the process slept 0,
10 or 120 ms.
"""
import argparse
import os
import sys
import time

os.environ.setdefault('OPENBLAS_NUM_THREADS', '1')
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from ik_bench import Arm, BLOCK, IkService, problems, TracIK  # noqa: E402
import numpy as np  # noqa: E402


def timed(solver, case, k: int) -> float:
    target, seed = case
    start = time.perf_counter()
    solver(target, seed, k)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('robot', nargs='?', default='ur5')
    parser.add_argument('--targets', type=int, default=500)
    args = parser.parse_args()
    arm = Arm(args.robot)
    cases = problems(arm, args.targets, np.random.default_rng(0))
    ours, trac = IkService(arm, 0.005), TracIK(arm, 0.005)
    blocks = range(0, len(cases) - BLOCK + 1, BLOCK)

    by_position = [[] for _ in range(BLOCK)]
    for first in blocks:
        for k in range(first, first + BLOCK):
            trac(*cases[k], k)
        for k in range(first, first + BLOCK):
            by_position[k - first].append(timed(ours, cases[k], k))
    medians = [f'{np.median(t) * 1e6:.0f}' for t in by_position]
    print(f'{args.robot}, after each TRAC-IK block, by position in the block (us):')
    print('  ' + ' '.join(medians))

    for pause in (0.0, 0.01, 0.12):
        first_solves, later = [], []
        for first in blocks:
            time.sleep(pause)
            times = [timed(ours, cases[k], k) for k in range(first, first + 5)]
            first_solves.append(times[0])
            later += times[2:]
        print(f'after {pause * 1e3:3.0f} ms asleep: first solve '
              f'{np.median(first_solves) * 1e6:.0f} us, third to fifth '
              f'{np.median(later) * 1e6:.0f} us')


if __name__ == '__main__':
    main()
