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
import time
from typing import Optional
import weakref

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
        self._model = weakref.ref(model)      # the model holds the table: no cycle
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

    def prepare(self, link_ids) -> float:
        """Compute the features of these links now; return the seconds it took (0 if done)."""
        start = time.perf_counter()
        missing = [int(i) for i in link_ids if int(i) not in self._poses]
        for link_id in missing:
            self._link_features(link_id)
        return time.perf_counter() - start if missing else 0.0

    def _link_features(self, link_id: int) -> np.ndarray:
        """
        Return per-configuration features F (13, N) of a link.

        The rows are the link origin [m], its rotation (row-major) and |origin|^2, one
        column per table configuration (w @ F, a weight vector times the rows, is the
        cheaper product).

        The squared distance of the origin to a target t is |p|^2 - 2 p.t + |t|^2 and
        the rotation score 3 - trace(R_t^T R) is 3 - R.ravel() @ R_t.ravel(): up to
        constants, both are one product of a weight vector with F.
        """
        features = self._poses.get(link_id)
        if features is None:
            kin = self._model().kinematics([link_id])
            t = kin.link_pose(kin.transforms(self.q), link_id)
            p = t[:, :3, 3]
            features = np.ascontiguousarray(np.concatenate(
                [p, t[:, :3, :3].reshape(-1, 9), np.einsum('ij,ij->i', p, p)[:, None]], axis=1).T)
            self._poses[link_id] = features
        return features

    def ranked(self, problem: ObjectiveSet, count: int) -> Optional[np.ndarray]:
        """
        Rank the table: the ``count`` configurations nearest the targets, nearest first.

        None when no objective can be scored this way (only targets in the root frame,
        or in a link no joint moves, with a fixed position or rotation are scored).
        """
        score = None
        model = problem.model
        for o in problem.objectives:
            ref = model.fixed_link_transform(o.ref_link)
            if ref is None or (o.position != 'fixed' and o.rotation != 'fixed'):
                continue
            in_root = o.ref_link in (None, model.root_link)
            features = self._link_features(model.link_id(o.link))
            weights = [0.0] * 13        # plain floats: 13 numbers, cheaper than numpy calls
            extra = []
            if o.position == 'fixed':
                targets = o.target_points if in_root else o.target_points @ ref[:3, :3].T + \
                    ref[:3, 3]
                for local, goal in zip(o.local_points.tolist(), targets.tolist()):
                    if any(local):    # a point off the origin: p = origin + R local
                        d = features[:3].T + features[3:12].T.reshape(-1, 3, 3) @ local - goal
                        extra.append(np.einsum('ij,ij->i', d, d))
                    else:             # |p - g|^2 = |p|^2 - 2 p.g + |g|^2, |g|^2 dropped
                        for axis in range(3):
                            weights[axis] -= 2.0 * goal[axis]
                        weights[12] += 1.0
            if o.rotation == 'fixed':    # 3 - trace(R_t^T R), 3 dropped
                goal = o.target_rotation if in_root else ref[:3, :3] @ o.target_rotation
                weights[3:12] = [-ROTATION_WEIGHT * v for v in goal.ravel().tolist()]
            term = np.array(weights).dot(features)
            for t in extra:
                term += t
            score = term if score is None else score + term
        if score is None:
            return None
        count = min(count, TABLE_SIZE)
        best = score.argpartition(count - 1)[:count]
        return best[score[best].argsort(kind='stable')]
