"""
How many Gauss-Newton iterations and restarts ik_service's global solves take.

    .venv/bin/python bench/iterations.py [ur5|panda|z1] [--targets 1000] [--seed 0]

The targets and seeds of ik_bench.py (same robot, count and seed give the same cases),
solved as the bench solves them (5 ms budget, tolerance 1e-5), untimed. Prints the solve
rate by the bench's check and how many solves ended after each number of iterations
(all rows of the batch iterate together) and with each number of restarts (the batch's
table starts count as restarts).
"""
import argparse
from collections import Counter
import os
import sys

os.environ.setdefault('OPENBLAS_NUM_THREADS', '1')
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from ik_bench import Arm, IkService, problems, ROBOTS  # noqa: E402
from ik_service.core import IKObjective, solve  # noqa: E402
import numpy as np  # noqa: E402


def histogram(counts: Counter, cap: int) -> str:
    """Return 'value: count' pairs in order, values from ``cap`` up pooled as '>=cap'."""
    pooled = Counter({min(k, cap): 0 for k in counts})
    for value, count in counts.items():
        pooled[min(value, cap)] += count
    return '  '.join(f'{">=" if k == cap else ""}{k}: {pooled[k]}' for k in sorted(pooled))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('robot', nargs='?', default='ur5', choices=list(ROBOTS))
    parser.add_argument('--targets', type=int, default=1000)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    arm = Arm(args.robot)
    settings = IkService(arm, 0.005).settings
    iterations, restarts, solved = Counter(), Counter(), 0
    for k, (target, seed) in enumerate(problems(arm, args.targets,
                                                np.random.default_rng(args.seed))):
        objective = IKObjective.fixed_pose(arm.tip, target[:3, :3], target[:3, 3])
        result = solve(arm.model, [objective], arm.full(seed), mode='global',
                       settings=settings, random_seed=k)
        iterations[result.iterations] += 1
        restarts[result.restarts] += 1
        solved += arm.solved(result.q[arm.dofs] if result.success else None, target)
    print(f'{args.robot}: {solved} of {args.targets} solved; median '
          f'{np.median(list(iterations.elements())):g} iterations')
    print(f'  iterations: {histogram(iterations, 8)}')
    print(f'  restarts:   {histogram(restarts, 12)}')


if __name__ == '__main__':
    main()
