"""
Paths: ik_service's solve_path against TRAC-IK and Klampt seeded from the previous answer.

    .venv/bin/python bench/path_bench.py [--waypoints 1000] [--robots ur5 panda ... iiwa]

Each robot starts at a random configuration (fixed seed) in the middle half of each
joint's range (ranges wider than a turn taken as [-pi, pi]), and follows, in its base link:
circles of 10 and 20 cm in three planes, a line out through the workspace boundary and
back (1 m out), a line across the base axis (the shoulder singularity), a 2 pi turn about
the tool axis and a random smooth path; 6-D pose targets. Solvers: ``solve_path``
(max_step 0.5 rad, local then in-box starts); TRAC-IK (Speed, 5 ms) from the previous
answer; Klampt's ``solve_nearby`` (max deviation 0.5 rad) from the previous answer. A
failed waypoint leaves the previous configuration as the next seed.

``solve_path`` runs twice: as is (no branch change) and with ``allow_branch_change`` (a
waypoint the box cannot solve is solved again in global mode), which flips like the peers.

Columns: failed = waypoints the solver missed that another solver (not the branching run)
reached on the start's branch, i.e. with no flip at or before that waypoint; flips =
steps of a joint over 0.5 rad between consecutive answers; length = the joint-space path length
(sum of step norms) over the shortest of the three; ms = median time per waypoint.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault('OPENBLAS_NUM_THREADS', '1')

from ik_bench import Arm, Klampt, TracIK  # noqa: E402
from ik_service.core import IKObjective  # noqa: E402
from ik_service.core.paths import solve_path  # noqa: E402
import numpy as np  # noqa: E402
from scipy.spatial.transform import Rotation  # noqa: E402

FLIP = 0.5      # rad: a larger step of one joint between waypoints is a branch flip
# solve_path's steps end at max_step = FLIP exactly (the box's edge), which rounding can
# put a few ulp beyond it: not a flip
FLIP_SLACK = 1e-9
BRANCHING = 'ik_service, branch change allowed'


def paths(arm: Arm, start: np.ndarray, count: int, rng) -> dict:
    """Named paths: lists of ``count`` target poses (4, 4) in the root frame."""
    pose = arm.pose(start)
    base = np.linalg.inv(arm.root_to_base)            # base link pose in the root frame
    axes = base[:3, :3]
    s = np.linspace(0, 1, count)
    out = {}
    for radius in (0.1, 0.2):
        for name, (u, v) in {'xy': (0, 1), 'yz': (1, 2), 'zx': (2, 0)}.items():
            a = 2 * np.pi * s
            offset = radius * (np.outer(np.cos(a) - 1, axes[:, u])
                               + np.outer(np.sin(a), axes[:, v]))
            out[f'circle {int(radius * 100)} cm {name}'] = [_moved(pose, d) for d in offset]
    outward = pose[:3, 3] - base[:3, 3]
    outward = outward / np.linalg.norm(outward)
    there_and_back = np.minimum(s, 1 - s) * 2
    out['line out 1 m and back'] = [_moved(pose, t * outward) for t in there_and_back]
    # across the base z axis at the tool's height: over the shoulder singularity
    radial = pose[:3, 3] - base[:3, 3]
    radial -= (radial @ axes[:, 2]) * axes[:, 2]
    out['line across the base axis'] = [_moved(pose, -2 * t * radial) for t in s]
    out['2 pi about the tool axis'] = [
        _turned(pose, Rotation.from_rotvec([0, 0, 2 * np.pi * t]).as_matrix()) for t in s]
    knots = rng.normal(0, 1, (4, 6)) * [0.08, 0.08, 0.08, 0.5, 0.5, 0.5]
    wave = sum(np.outer(np.sin((i + 1) * np.pi * s), knots[i]) for i in range(4))
    out['random smooth'] = [_turned(_moved(pose, w[:3]), Rotation.from_rotvec(w[3:]).as_matrix())
                            for w in wave]
    return out


def _moved(pose, d):
    out = pose.copy()
    out[:3, 3] += d
    return out


def _turned(pose, r):
    out = pose.copy()
    out[:3, :3] = pose[:3, :3] @ r
    return out


def run_ik_service(arm: Arm, targets, start, allow_branch_change: bool = False):
    objectives = [[IKObjective.fixed_pose(arm.tip, t[:3, :3], t[:3, 3])] for t in targets]
    started = time.perf_counter()
    path = solve_path(arm.model, objectives, arm.full(start), active_joints=arm.names,
                      allow_branch_change=allow_branch_change)
    per = (time.perf_counter() - started) / len(targets)
    return [q[arm.dofs] if ok else None for q, ok in zip(path.q, path.success)], \
        path.q[:, arm.dofs], [per] * len(targets)


def run_seeded(arm: Arm, solver, targets, start):
    answers, configurations, times, q = [], [], [], start
    for k, target in enumerate(targets):
        started = time.perf_counter()
        found = solver(target, q, k)
        times.append(time.perf_counter() - started)
        answers.append(found)
        q = found if found is not None else q
        configurations.append(q)
    return answers, np.array(configurations), times


class KlamptNearby(Klampt):
    """Klampt's solve_nearby from the previous answer, no restarts."""

    def __call__(self, target, seed, k):
        goal = self.ik.objective(self.tip, R=list(target[:3, :3].T.ravel()), t=list(target[:3, 3]))
        q = self.robot.getConfig()
        for i, link in enumerate(self.links):
            q[link] = seed[i]
        self.robot.setConfig(q)
        if not self.ik.solve_nearby(goal, FLIP, iters=100, tol=1e-5, activeDofs=self.links,
                                    numRestarts=0):
            return None
        q = self.robot.getConfig()
        return np.array([q[link] for link in self.links])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--waypoints', type=int, default=1000)
    parser.add_argument('--robots', nargs='+',
                        default=['ur5', 'panda', 'xarm7', 'kinova', 'z1', 'iiwa'])
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    print('| robot | path | solver | solved | failed | flips | length | ms |')
    print('| --- | --- | --- | --- | --- | --- | --- | --- |')
    for key in args.robots:
        arm = Arm(key)
        start = arm.middle_start(rng)
        peers = {'trac_ik': TracIK(arm, 0.005), 'klampt': KlamptNearby(arm, 0.005)}
        for name, targets in paths(arm, start, args.waypoints, rng).items():
            runs = {'ik_service': run_ik_service(arm, targets, start),
                    BRANCHING: run_ik_service(arm, targets, start, allow_branch_change=True)}
            for peer, solver in peers.items():
                runs[peer] = run_seeded(arm, solver, targets, start)
            solved = {s: np.array([arm.solved(a, t) for a, t in zip(r[0], targets)])
                      for s, r in runs.items()}
            lengths = {}
            for s, (_, configurations, _) in runs.items():
                steps = np.diff(np.vstack([start, configurations]), axis=0)
                lengths[s] = (np.linalg.norm(steps, axis=1).sum(), np.abs(steps).max(axis=1))
            # reached on the start's branch: solved, and no flip at or before that waypoint
            flips = {s: lengths[s][1] > FLIP + FLIP_SLACK for s in runs}
            smoothly = np.any([solved[s] & (np.cumsum(flips[s]) == 0)
                               for s in runs if s != BRANCHING], axis=0)
            shortest = min(length for length, _ in lengths.values()) or 1.0
            for s, (_, _, times) in runs.items():
                length = lengths[s][0]
                print(f'| {key} | {name} | {s} | {solved[s].mean():.1%} | '
                      f'{int((smoothly & ~solved[s]).sum())} | {int(flips[s].sum())} | '
                      f'{length / shortest:.2f} | {np.median(times) * 1e3:.3f} |', flush=True)


if __name__ == '__main__':
    main()
