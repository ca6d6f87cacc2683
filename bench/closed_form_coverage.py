"""
Which chains of real robots get a closed form, and whether its answers are right and complete.

    .venv/bin/python bench/closed_form_coverage.py [--poses 60] [--joints 6]

Every URDF of example-robot-data and pybullet_data (models with the same kinematics once),
every link whose chain has --joints or more revolute joints, the last --joints of them
active (the joints above held at 0): the closed form ``ClosedForm.of`` finds (the family,
or none), and for --poses random configurations of those joints (uniform in [-pi, pi))
the pose of the link: how many poses lack their own configuration among the exact solutions (a
missed solution: should be 0), the largest forward-kinematics error of any solution
returned, and, for chains with branch labels, how many poses have two solutions away from
singular surfaces that share a label (should be 0; 'none': the chain has no labels).
Links that carry the same chain (a tool frame after the last joint) are one row.
"""
from __future__ import annotations

import argparse
import glob
import os
import sys
from typing import Optional

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from ik_bench import robot_file, ROBOTS_DIR  # noqa: E402
from ik_service.core import ClosedForm, load_urdf_file  # noqa: E402
import numpy as np  # noqa: E402


def urdf_files() -> list[str]:
    """Every URDF of example-robot-data, then of pybullet_data."""
    pybullet_dir = os.path.dirname(robot_file('pybullet_data/kuka_iiwa/model.urdf'))
    return sorted(glob.glob(os.path.join(ROBOTS_DIR, '**', '*.urdf'), recursive=True)) + \
        sorted(glob.glob(os.path.join(os.path.dirname(pybullet_dir), '**', '*.urdf'),
                         recursive=True))


def check(form: ClosedForm, poses: int, rng) -> tuple[int, float, Optional[int]]:
    """
    Check a chain's closed form on random poses.

    Returns (poses missing their own configuration, the largest FK error of a solution,
    poses with two solutions sharing a branch label or None for a chain without labels).
    """
    missed, worst, shared = 0, 0.0, 0
    labelled = bool(form.branches(np.zeros(form.model.num_dofs))[0])
    for _ in range(poses):
        q = np.zeros(form.model.num_dofs)
        q[form.dofs] = rng.uniform(-np.pi, np.pi, len(form.dofs))
        found, error = form.gives_back(q)
        missed += not found
        worst = max(worst, error)
        shared += labelled and form.labels_shared_at(q)
    return missed, worst, shared if labelled else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--poses', type=int, default=60)
    parser.add_argument('--joints', type=int, default=6, choices=(2, 3, 5, 6),
                        help='the chain lengths a closed form covers')
    args = parser.parse_args()
    k = args.joints
    rng = np.random.default_rng(0)
    seen, chains, without, labelled = set(), 0, 0, 0
    print(f'{"robot":36s} {"link":26s} {"closed form":32s} missed  max FK error  '
          'labels shared')
    for path in urdf_files():
        try:
            model = load_urdf_file(path)
        except Exception:       # descriptions this loader refuses (meshes only, etc.)
            continue
        for link in model.link_names:
            dofs = np.flatnonzero(model.dofs_moving_links([model.link_id(link)]))
            if len(dofs) < k or model.is_prismatic_dof[dofs[-k:]].any():
                continue
            key = (model.fingerprint, tuple(dofs[-k:].tolist()))
            if key in seen:
                continue
            seen.add(key)
            chains += 1
            active = np.zeros(model.num_dofs, dtype=bool)
            active[dofs[-k:]] = True
            form = ClosedForm.of(model, link, active)
            name = os.path.relpath(path, os.path.dirname(os.path.dirname(path)))
            if form is None:
                without += 1
                print(f'{name[-36:]:36s} {link[:26]:26s} {"none":32s}')
                continue
            missed, worst, shared = check(form, args.poses, rng)
            labelled += shared is not None
            print(f'{name[-36:]:36s} {link[:26]:26s} {form.family[:32]:32s} '
                  f'{missed:3d}/{args.poses}  {worst:.1e}      '
                  f'{"none" if shared is None else f"{shared}/{args.poses}"}', flush=True)
    print(f'{chains} chains of {k} revolute joints, {chains - without} with a closed form, '
          f'{labelled} of them with branch labels')


if __name__ == '__main__':
    main()
