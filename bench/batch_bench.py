"""
Throughput of solve_batch against TRAC-IK solving the same targets one after another.

    .venv/bin/python bench/batch_bench.py [--targets 1000] [--robot ur5] [--rounds 3]
                                          [--through-node]

Random 6-D targets of the arm (in its base link) and random seeds; ik_service global mode
with its default settings, through ``solve_batch`` with 1 worker and one per core; TRAC-IK
(Speed, 5 ms) in one thread. Prints solves per second and the solve rate of each, and
whether the batch answers are bit-identical to ``solve`` one by one. They run one after
the other, --rounds times (the machine's speed drifts within minutes, so each ratio is to
the TRAC-IK rate of its own round), and the median ratio over the rounds.

--through-node: the same targets also as one SolveIKBatch request to the node, started
as a user starts it, with ``batch_workers`` 1 and one per core (the rate is the round
trip's: the request's conversion, the solves and the response).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Optional

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault('OPENBLAS_NUM_THREADS', '1')

from ik_bench import Arm, TracIK  # noqa: E402
from ik_interfaces.msg import BatchProblem  # noqa: E402
from ik_interfaces.srv import SolveIKBatch  # noqa: E402
from ik_service.conversions import objectives_from_request, pose_target_msg  # noqa: E402
from ik_service.core import solve, solve_batch  # noqa: E402
import numpy as np  # noqa: E402
import rclpy  # noqa: E402
from reliability import Caller, start_node, stop_node  # noqa: E402
from sensor_msgs.msg import JointState  # noqa: E402


class NodeBatches:
    """Nodes with batch_workers 1 and one per core; the same batch as one request to each."""

    def __init__(self, arm: Arm, targets: list, seeds: np.ndarray):
        """targets: PoseTarget messages, seeds (T, n): one per problem."""
        self.workers = sorted({1, os.cpu_count() or 1})
        self.nodes = {w: start_node(f'/batch_bench_{w}', arm.path, ('-p', f'batch_workers:={w}'))
                      for w in self.workers}
        rclpy.init()
        self.callers = {w: Caller(f'batch_client_{w}', f'/batch_bench_{w}/solve_ik_batch',
                                  SolveIKBatch) for w in self.workers}
        names = arm.model.joint_names
        self.request = SolveIKBatch.Request(active_joints=arm.names, problems=[
            BatchProblem(pose_targets=[t], seed=JointState(name=names, position=s.tolist()))
            for t, s in zip(targets, seeds)])

    def solve(self, workers: int) -> tuple[float, Optional[list]]:
        """Return the round trip [s] of the batch and its answers' positions (None: none)."""
        answer, seconds = self.callers[workers].call(self.request, timeout=120.0)
        return seconds, None if answer is None else [a.positions for a in answer.answers]

    def close(self) -> None:
        for caller in self.callers.values():
            caller.close()
        rclpy.try_shutdown()
        for node in self.nodes.values():
            stop_node(node)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--targets', type=int, default=1000)
    parser.add_argument('--robot', default='ur5')
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--through-node', action='store_true',
                        help='also solve the batch through the node (SolveIKBatch)')
    args = parser.parse_args(argv)
    arm = Arm(args.robot)
    rng = np.random.default_rng(0)
    goals, seeds = arm.sample(rng, args.targets), arm.sample(rng, args.targets)
    poses = [arm.pose(g) for g in goals]
    # targets in the base link as a request carries them (a quaternion), so that the
    # library and the node solve the same numbers
    targets = [pose_target_msg(arm.root_to_base @ pose, arm.tip, arm.base) for pose in poses]
    problems = [objectives_from_request([t], []) for t in targets]
    full_seeds = np.array([arm.full(s) for s in seeds])
    options = {'mode': 'global', 'active_joints': arm.names, 'random_seed': 0}

    trac = TracIK(arm, 0.005)
    alone = [solve(arm.model, p, s, **options).q for p, s in zip(problems, full_seeds)]
    node = NodeBatches(arm, targets, full_seeds) if args.through_node else None
    ratios: dict[str, list] = {}
    try:
        for round_ in range(1, args.rounds + 1):
            started = time.perf_counter()
            trac_solved = sum(arm.solved(trac(p, s, k), p) for k, (p, s) in
                              enumerate(zip(poses, seeds)))
            trac_rate = args.targets / (time.perf_counter() - started)
            print(f'round {round_}: trac_ik, 1 thread: {trac_rate:8.0f} solves/s, '
                  f'solved {trac_solved / args.targets:.1%}')
            for workers in sorted({1, os.cpu_count() or 1}):
                started = time.perf_counter()
                results = solve_batch(arm.model, problems, full_seeds, workers=workers,
                                      **options)
                answers = [r.q for r in results]
                _report(f'solve_batch, {workers} worker(s)', round_, args.targets,
                        time.perf_counter() - started, trac_rate, answers, alone, arm, poses,
                        ratios)
                if node is not None:
                    seconds, answers = node.solve(workers)
                    _report(f'solve_ik_batch, batch_workers {workers}', round_, args.targets,
                            seconds, trac_rate, answers, alone, arm, poses, ratios)
    finally:
        if node is not None:
            node.close()
    for name, values in ratios.items():
        print(f'{name}: median {np.median(values):.2f}x trac_ik over {len(values)} rounds '
              f'({", ".join(f"{v:.2f}" for v in values)})')


def _report(name: str, round_: int, count: int, seconds: float, trac_rate: float,
            answers: Optional[list], alone: list, arm: Arm, poses: list, ratios: dict) -> None:
    """Print one batch's rate against TRAC-IK's, its solve rate and whether it is solve's."""
    if answers is None:
        print(f'round {round_}: {name}: no answer')
        return
    rate = count / seconds
    solved = sum(arm.solved(np.asarray(q)[arm.dofs], p) for q, p in zip(answers, poses))
    same = all(np.array_equal(q, a) for q, a in zip(answers, alone))
    ratios.setdefault(name, []).append(rate / trac_rate)
    print(f'round {round_}: ik_service {name}: {rate:8.0f} solves/s '
          f'({rate / trac_rate:.2f}x trac_ik), solved {solved / count:.1%}, identical to '
          f'solve one by one: {same}')


if __name__ == '__main__':
    main()
