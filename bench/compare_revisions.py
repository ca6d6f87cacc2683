"""
Whole solves of this checkout's core against another revision's, interleaved in one process.

    .venv/bin/python bench/compare_revisions.py REV [--robot iiwa] [--problems 500]
                                                    [--rounds 16] [--near | --all-solutions]

The core (``ik_service/core``) at git revision REV is extracted next to numba's cache
(~/.cache/ik_service/revisions/<commit>, compiled once) and imported as a second package
beside this checkout's. Both solve the same problems (random 6-D targets in the arm's
base link, random seeds, global mode, as ``batch_bench.py``; with --near, a path's or a
stream's step instead: ``paths.solve_near`` from a seed 0.1 rad (normal, per joint) from
the target's configuration, within 0.5 rad of the seed and pulled toward it; with
--all-solutions, a closed-form arm's every solution inside its limits instead:
``closed_form.all_solutions``), in turns of
one loop each, ``--rounds`` times: a machine whose speed drifts within seconds slows both
alike, which timing two processes one after the other does not give. Prints each one's
solve count, mean iterations and median joint-space distance from the seed, microseconds
per solve (min and median over the rounds), the median of the per-round ratios, and
whether the answers are the same bits.
"""
from __future__ import annotations

import argparse
import gc
import hashlib
import importlib
import os
from pathlib import Path
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault('OPENBLAS_NUM_THREADS', '1')

from ik_bench import Arm  # noqa: E402
import ik_service.core as this_core  # noqa: E402
import numpy as np  # noqa: E402

REPOSITORY = Path(__file__).resolve().parent.parent


def core_at(revision: str):
    """Import the core of a git revision as a package of its own; return it."""
    commit = subprocess.run(['git', 'rev-parse', '--verify', revision + '^{commit}'],
                            cwd=REPOSITORY, capture_output=True, text=True, check=True)
    commit = commit.stdout.strip()
    name = f'core_{commit[:12]}'
    home = Path.home() / '.cache' / 'ik_service' / 'revisions'
    if not (home / name / '__init__.py').exists():
        files = subprocess.run(['git', 'ls-tree', '-r', '--name-only', commit,
                                'ik_service/core'], cwd=REPOSITORY, capture_output=True,
                               text=True, check=True).stdout.split()
        partial = home / f'{name}.partial'      # renamed once complete
        for path in files:
            target = partial / Path(path).relative_to('ik_service/core')
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(subprocess.run(['git', 'show', f'{commit}:{path}'],
                                              cwd=REPOSITORY, capture_output=True,
                                              check=True).stdout)
        partial.rename(home / name)
    sys.path.insert(0, str(home))
    return importlib.import_module(name)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('revision')
    parser.add_argument('--robot', default='iiwa')
    parser.add_argument('--problems', type=int, default=500)
    parser.add_argument('--rounds', type=int, default=16)
    timed = parser.add_mutually_exclusive_group()
    timed.add_argument('--near', action='store_true',
                       help="a path's step (paths.solve_near) instead of a global solve")
    timed.add_argument('--all-solutions', action='store_true',
                       help='closed_form.all_solutions instead of a global solve')
    args = parser.parse_args(argv)
    arm = Arm(args.robot)
    rng = np.random.default_rng(0)
    goals, seeds = arm.sample(rng, args.problems), arm.sample(rng, args.problems)
    if args.near:
        seeds = arm.box.clip(goals + rng.normal(0.0, 0.1, goals.shape))
    poses = [arm.root_to_base @ arm.pose(g) for g in goals]
    full_seeds = [arm.full(s) for s in seeds]
    options = {'mode': 'global', 'active_joints': arm.names, 'random_seed': 0}
    versions = {}
    for label, core in ((args.revision, core_at(args.revision)), ('this checkout', this_core)):
        model = core.load_urdf_file(arm.path)
        problems = [[core.IKObjective.fixed_pose(arm.tip, pose[:3, :3], pose[:3, 3],
                                                 ref_link=arm.base)] for pose in poses]

        if args.near:
            settings = core.SolverSettings(max_restarts=16)
            limits = core.JointLimits.from_model(model)

            def loop(core=core, model=model, problems=problems) -> list:
                return [core.solve_near(model, p, s, 0.5, settings, limits,
                                        active_joints=arm.names)
                        for p, s in zip(problems, full_seeds)]
        elif args.all_solutions:
            limits = core.JointLimits.from_model(model)
            active = model.dofs_named(arm.names)

            def loop(core=core, model=model, problems=problems) -> list:
                return [core.closed_form.all_solutions(model, p[0], s, limits, active)
                        for p, s in zip(problems, full_seeds)]
        else:
            def loop(core=core, model=model, problems=problems) -> list:
                return [core.solve(model, p, s, **options)
                        for p, s in zip(problems, full_seeds)]
        loop()      # the first loads the compiled code and builds the tables, in its
        results = loop()    # time budget: a hard problem may time out there alone
        if args.all_solutions:
            answers = np.concatenate(results)
            versions[label] = (loop, hashlib.sha256(answers.tobytes()).hexdigest())
            print(f'{args.robot} {label:>14s}: {len(answers) / len(results):.1f} solutions '
                  'inside the limits per pose')
            continue
        answers = np.array([r.q for r in results])
        versions[label] = (loop, hashlib.sha256(answers.tobytes()).hexdigest())
        moves = np.linalg.norm(answers - np.array(full_seeds), axis=1)
        print(f'{args.robot} {label:>14s}: {sum(r.success for r in results)} of '
              f'{len(results)} solved, {np.mean([r.iterations for r in results]):.1f} '
              f'iterations, joint-space distance from the seed median {np.median(moves):.4f}')
    # what set-up made stays out of the collector's full passes (one over the benchmark's
    # libraries takes ~0.1 s and would land in one version's round)
    gc.collect()
    gc.freeze()
    seconds = {label: [] for label in versions}
    for _ in range(args.rounds):
        for label, (loop, _digest) in versions.items():
            started = time.perf_counter()
            loop()
            seconds[label].append((time.perf_counter() - started) / args.problems * 1e6)
    (base, base_us), (new, new_us) = seconds.items()
    for label, us in seconds.items():
        print(f'{args.robot} {label:>14s}: {min(us):7.1f} us a call (min), '
              f'{np.median(us):7.1f} (median of {args.rounds} rounds)')
    ratios = np.array(new_us) / np.array(base_us)
    same = versions[base][1] == versions[new][1]
    print(f'{args.robot} this checkout / {base}: {np.median(ratios):.3f} (median of the '
          f'ratio per round); answers the same bits: {same}')


if __name__ == '__main__':
    main()
