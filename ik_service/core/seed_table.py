"""
Precomputed configurations and link poses, to start global-mode descents near a target.

A table of configurations is sampled once per robot model (uniform within the URDF
limits, unbounded angles within +-pi, fixed random seed so solves stay reproducible).
The world pose of a link in every configuration is computed the first time that link is
constrained. For a problem, configurations are ranked by how far their links are from
the targets: squared distance [m^2] of each fixed point plus ``ROTATION_WEIGHT`` times
(3 - trace(R_target^T R)), which is about angle^2 [rad^2] for small angles.
"""
from __future__ import annotations

import threading
from typing import Optional

import numpy as np

from .model import RobotModel
from .objectives import ObjectiveSet

TABLE_SIZE = 2048
# Its own stream: a table drawn like a caller's samples (default_rng(0)) would contain
# the caller's targets.
TABLE_RANDOM_SEED = 0x5EED7AB1E
ROTATION_WEIGHT = 0.1    # m^2 per rad^2: a 1 rad error counts like ~30 cm


class SeedTable:
    """Configurations (TABLE_SIZE, n) of one model and, lazily, link poses in each."""

    _lock = threading.Lock()

    def __init__(self, model: RobotModel):
        rng = np.random.default_rng(TABLE_RANDOM_SEED)
        lo = np.where(np.isfinite(model.lower), model.lower, -np.pi)
        hi = np.where(np.isfinite(model.upper), model.upper, np.pi)
        self.model = model
        self.q = lo + (hi - lo) * rng.random((TABLE_SIZE, model.num_dofs))
        self._poses: dict[int, np.ndarray] = {}

    @classmethod
    def of(cls, model: RobotModel) -> 'SeedTable':
        """Return the table of ``model``, building it on first use."""
        table = getattr(model, '_seed_table', None)
        if table is None:
            with cls._lock:
                table = getattr(model, '_seed_table', None)
                if table is None:
                    table = cls(model)
                    model._seed_table = table
        return table

    def _link_poses(self, link_id: int) -> tuple[np.ndarray, np.ndarray]:
        """Positions (N, 3) [m] and rotations (N, 3, 3) of a link in every configuration."""
        poses = self._poses.get(link_id)
        if poses is None:
            kin = self.model.kinematics([link_id])
            t = kin.link_pose(kin.transforms(self.q), link_id)
            poses = (np.ascontiguousarray(t[:, :3, 3]), np.ascontiguousarray(t[:, :3, :3]))
            self._poses[link_id] = poses
        return poses

    def ranked(self, problem: ObjectiveSet, count: int) -> Optional[np.ndarray]:
        """
        Rank the table: the ``count`` configurations nearest the targets, nearest first.

        None when no objective can be scored this way (only targets in the root frame,
        or in a link no joint moves, with a fixed position or rotation are scored).
        """
        score = None
        model = problem.model
        for o in problem.objectives:
            ref = np.eye(4)
            if o.ref_link is not None and o.ref_link != model.root_link:
                rid = model.link_id(o.ref_link)
                if model.link_frame[rid] >= 0:
                    continue
                ref = model.link_offset[rid]
            positions, rotations = self._link_poses(model.link_id(o.link))
            terms = []
            if o.position == 'fixed':
                for local, target in zip(o.local_points, o.target_points):
                    p = positions if not local.any() else positions + rotations @ local
                    d = p - (ref[:3, :3] @ target + ref[:3, 3])
                    terms.append(np.einsum('ij,ij->i', d, d))
            if o.rotation == 'fixed':
                # trace(R_target^T R) as one matrix-vector product over the table
                target_r = (ref[:3, :3] @ o.target_rotation).ravel()
                terms.append(ROTATION_WEIGHT * (3.0 - rotations.reshape(-1, 9) @ target_r))
            for term in terms:
                score = term if score is None else score + term
        if score is None:
            return None
        count = min(count, TABLE_SIZE)
        best = np.argpartition(score, count - 1)[:count]
        return best[np.argsort(score[best], kind='stable')]
