"""
Precomputed configurations and link poses, to start global-mode descents near a target.

A table of configurations is sampled once per robot model (uniform within the URDF
limits, unbounded angles within +-pi, fixed random seed so solves stay reproducible).
The pose of a link in every configuration is computed the first time that link is
constrained, in the frame of its chain's *still base*: the link of the last joint above
the first one a solve moves (the root when the first joint of the chain is active; a
torso link when the torso is held still). Only the moving part of the chain then matters, so
the table serves an arm on a torso at any height. For a problem, configurations are
ranked by how far their links are from the targets (taken into the base frame at the
seed): squared distance [m^2] of each fixed point plus ``ROTATION_WEIGHT`` times
(3 - trace(R_target^T R)), which is about angle^2 [rad^2] for small angles.

The common request, one link's origin at a position (with or without a rotation) in
the root frame or a still link, is ranked differently (``TurnedPoses``): every entry
counts as turned about the first moving joint of the link's chain to the target's
azimuth, which the start then is. A ranking of the whole table scores only its first
``RANKED_SIZE`` entries.
"""
from __future__ import annotations

import threading
import time
from typing import Optional

import numpy as np

from .bounded_cache import BoundedCache
from .fork_safety import renew_locks_after_fork
from .model import LinkKinematics, RobotModel
from .objectives import ObjectiveSet, targets_in_root
from .transforms import product, rigid_inverse
from .turned_poses import TurnedPoses

TABLE_SIZE = 16384      # a multiple of turned_poses.LEAF
RANKED_SIZE = 2048      # entries that ``ranked`` scores (the turned ranking uses all)
# Its own stream: a table drawn like a caller's samples (default_rng(0)) would contain
# the caller's targets.
TABLE_RANDOM_SEED = 0x5EED7AB1E
ROTATION_WEIGHT = 0.1    # m^2 per rad^2: a 1 rad error counts like ~30 cm
MAX_LINKS = 32          # (link, base) pairs whose features a table keeps (~2.3 MB each)
MAX_MODELS = 4          # tables kept, by model fingerprint
FK_CHUNK_FRAMES = 1 << 14   # frame transforms computed at once while building (2 MB)


class SeedTable:
    """Configurations (TABLE_SIZE, n) of one model and, lazily, link poses in each."""

    _lock = threading.Lock()
    # tables by model fingerprint: models with the same kinematics share one (a model
    # swapped back and forth, a description published again); a few models at most
    _tables = BoundedCache(MAX_MODELS)

    def __init__(self, model: RobotModel):
        rng = np.random.default_rng(TABLE_RANDOM_SEED)
        lo = np.where(np.isfinite(model.lower), model.lower, -np.pi)
        hi = np.where(np.isfinite(model.upper), model.upper, np.pi)
        self._model = model       # any model with this fingerprint: they are alike
        self.q = lo + (hi - lo) * rng.random((TABLE_SIZE, model.num_dofs))
        # per (link, base slot): (features, TurnedPoses or None); bounded, links come
        # from requests
        self._links = BoundedCache(MAX_LINKS)
        self._bases = BoundedCache(4 * MAX_LINKS)       # per (link, active dofs)
        self._building = threading.Lock()
        renew_locks_after_fork(self, '_building')

    @classmethod
    def of(cls, model: RobotModel) -> 'SeedTable':
        """Return the table of ``model`` (or of a model with its kinematics), made on first use."""
        table = cls._tables.get(model.fingerprint)
        if table is None:
            with cls._lock:
                table = cls._tables.get(model.fingerprint)
                if table is None:
                    table = cls(model)
                    cls._tables[model.fingerprint] = table
        return table

    def prepare(self, link_ids, idx: Optional[np.ndarray] = None) -> float:
        """
        Compute the features of these links now; return the seconds it took (0 if done).

        idx (k,): the dofs the solves will move (None: every dof).
        """
        return self.prepare_keys(self.keys(link_ids, idx))

    def is_prepared(self, link_ids, idx: Optional[np.ndarray] = None) -> bool:
        """Tell whether ``prepare`` has nothing to compute for these links (idx as there)."""
        return not self._missing(self.keys(link_ids, idx))

    def keys(self, link_ids, idx: Optional[np.ndarray] = None) -> list:
        """
        Return the (link id, base slot) under which these links' features are kept.

        idx (k,): the dofs the solves move (None: every dof); a link that none of them
        moves has none. The same for every solve of one problem layout over idx: a solve
        keeps them (``solver._Chain``) and prepares them with ``prepare_keys``.
        """
        idx = np.arange(self._model.num_dofs) if idx is None else idx
        keys = [(int(i), self.base_slot(int(i), idx)) for i in link_ids]
        return [key for key in keys if key[1] is not None]

    def prepare_keys(self, keys: list) -> float:
        """``prepare`` for the links of ``keys`` (``keys``); the seconds it took (0 if done)."""
        missing = self._missing(keys)
        if not missing:
            return 0.0
        start = time.perf_counter()
        for link_id, base in missing:
            self._link(link_id, base)
        return time.perf_counter() - start

    def _missing(self, keys: list) -> list:
        """Return those of the (link id, base slot) keys whose features are not made."""
        return [key for key in keys if key not in self._links]

    def base_slot(self, link_id: int, idx: np.ndarray) -> Optional[int]:
        """
        Return the slot of a link's still base in its chain, for solves moving dofs idx (k,).

        The chain is ``model.kinematics([link_id])`` (frames from the root, slot i the
        parent of slot i + 1). The base is the last frame above the first one that an
        active dof moves (the link it carries is the base link); -1 is the root. None
        when no active dof moves the link.
        """
        key = (link_id, idx.tobytes())
        found = self._bases.get(key)
        if found is None:
            kin = self._model.kinematics([link_id])
            moved = np.flatnonzero((kin.dof_map[:, idx] != 0).any(axis=1))
            found = (int(moved[0]) - 1 if len(moved) else None,)
            self._bases[key] = found
        return found[0]

    def _base_link(self, link_id: int, base: int) -> Optional[int]:
        """Return the link at a base slot (its joint's child link), or None for the root."""
        if base < 0:
            return None
        model = self._model
        return model.link_id(model._frame_joint[model.kinematics([link_id]).frames[base]].child)

    def _link(self, link_id: int, base: int) -> tuple:
        """
        Return a link's (features, TurnedPoses or None) over its base, made on first use.

        features (13, RANKED_SIZE) are the rows ``ranked`` weighs: the link origin in the
        base frame [m], its rotation (row-major) and |origin|^2, one column per table
        configuration (w @ F, a weight vector times the rows, is the cheaper product).
        The squared distance of the origin to a target t is |p|^2 - 2 p.t + |t|^2 and the
        rotation score 3 - trace(R_t^T R) is 3 - R.ravel() @ R_t.ravel(): up to
        constants, both are one product of a weight vector with F.

        Made once: a request and the node's background builder asking for the same link
        at the same time would otherwise both build it (twice the time and the memory).
        """
        key = (link_id, base)
        entry = self._links.get(key)
        if entry is None:
            with self._building:
                entry = self._links.get_or_make(
                    key, lambda: self._make_link_features(link_id, base))
        return entry

    def _make_link_features(self, link_id: int, base: int) -> tuple:
        model = self._model
        base_link = self._base_link(link_id, base)
        # the base link's frames are among the link's: the same slots
        kin = model.kinematics([link_id] + ([base_link] if base_link is not None else []))
        # in chunks of at most FK_CHUNK_FRAMES frame transforms: the frames of all entries
        # at once would take ~30 MB for a 6-joint arm (which the allocator keeps after they
        # are freed) and grow with the chain's length
        chunks = -(-TABLE_SIZE * max(1, kin.num_frames) // FK_CHUNK_FRAMES)
        t = np.concatenate([_over_base(kin, kin.transforms(q), link_id, base_link)
                            for q in np.array_split(self.q, chunks)])
        p = t[:RANKED_SIZE, :3, 3]
        squared = p[:, 0] * p[:, 0] + p[:, 1] * p[:, 1] + p[:, 2] * p[:, 2]
        features = np.ascontiguousarray(np.concatenate(
            [p, t[:RANKED_SIZE, :3, :3].reshape(-1, 9), squared[:, None]], axis=1).T)
        return features, self._turned_poses(kin, t, base, base_link)

    def _turned_poses(self, kin: LinkKinematics, poses: np.ndarray, base: int,
                      base_link: Optional[int]) -> Optional[TurnedPoses]:
        """
        Index a link's poses (N, 4, 4) over its base link by the first moving joint, or None.

        The frame after the base (slot base + 1) is the first joint a solve moves. It
        must be a revolute dof, and no joint of the chain a mimic (which could follow it).
        """
        model, first = self._model, base + 1
        if kin.frame_dofs is None or kin.prismatic[first]:
            return None
        dof = int(kin.frame_dofs[first])
        at_zero = kin.transforms(np.zeros((1, model.num_dofs)))
        axis_frame = at_zero[first, 0] if base_link is None else product(
            rigid_inverse(kin.link_pose(at_zero, base_link)[0]), at_zero[first, 0])
        lower, upper = float(model.lower[dof]), float(model.upper[dof])
        limits = (lower, upper) if np.isfinite(lower) and np.isfinite(upper) else \
            (-np.pi, np.pi)
        return TurnedPoses(poses, dof, self.q[:, dof], rigid_inverse(axis_frame), limits,
                           ROTATION_WEIGHT)

    def starts(self, problem: ObjectiveSet, count: int, idx: np.ndarray, seed: np.ndarray,
               in_root: Optional[list] = None) -> Optional[np.ndarray]:
        """
        Return up to ``count`` starting configurations (count, k) nearest the targets.

        idx (k,): the active dofs, whose values the rows hold; seed (n,): the
        configuration that poses the links no active dof moves; in_root: each objective's
        ``targets_in_root`` at the seed, if already known. The entries are turned about
        the first moving joint when the problem allows it (``turned_starts``), else taken
        as they are (``ranked``). None when no objective can be scored.
        """
        q = self.turned_starts(problem, count, idx, seed, in_root)
        if q is not None:
            return q
        ranked = self.ranked(problem, count, idx, seed, in_root)
        if ranked is None:
            return None
        q = self.q[ranked]
        return q if len(idx) == q.shape[1] else q[:, idx]

    def turned_starts(self, problem: ObjectiveSet, count: int, idx: np.ndarray,
                      seed: np.ndarray, in_root: Optional[list] = None) -> Optional[np.ndarray]:
        """
        Return starts (<= count, k) over idx, best first, each an entry turned to the target.

        Applies to a problem of one objective that puts one link's origin at a position
        (with or without a rotation) given in the root frame or in a link no joint moves,
        when the link's poses over its still base are indexed (``TurnedPoses``); None
        otherwise. idx, seed and in_root as in ``starts``.
        """
        if len(problem.objectives) != 1:
            return None
        o = problem.objectives[0]
        if o.position != 'fixed' or len(o.local_points) != 1 or any(o.local_points[0].tolist()):
            return None
        in_base = self._targets_in_base(problem.model, o, idx, seed,
                                        in_root[0] if in_root is not None else None)
        if in_base is None:
            return None
        key, points, rotation = in_base
        _, turned = self._link(*key)
        if turned is None:
            return None
        return turned.starts(points[0], rotation, count, self.q, idx)

    def ranked(self, problem: ObjectiveSet, count: int, idx: np.ndarray, seed: np.ndarray,
               in_root: Optional[list] = None) -> Optional[np.ndarray]:
        """
        Rank the table: the ``count`` configurations nearest the targets, nearest first.

        None when no objective can be scored this way (only targets in the root frame,
        or in a link no joint moves, with a fixed position or rotation are scored).
        idx, seed and in_root as in ``starts``.
        """
        score = None
        for i, o in enumerate(problem.objectives):
            in_base = self._targets_in_base(problem.model, o, idx, seed,
                                            in_root[i] if in_root is not None else None) \
                if o.position == 'fixed' or o.rotation == 'fixed' else None
            if in_base is None:
                continue
            key, targets, rotation = in_base
            features = self._link(*key)[0]
            weights = [0.0] * 13        # plain floats: 13 numbers, cheaper than numpy calls
            extra = []
            if o.position == 'fixed':
                for local, goal in zip(o.local_points.tolist(), targets.tolist()):
                    if any(local):    # a point off the origin: p = origin + R local
                        d = features[:3].T + product(features[3:12].T.reshape(-1, 3, 3),
                                                     np.array(local)[:, None])[..., 0] - goal
                        extra.append(d[:, 0] * d[:, 0] + d[:, 1] * d[:, 1] + d[:, 2] * d[:, 2])
                    else:             # |p - g|^2 = |p|^2 - 2 p.g + |g|^2, |g|^2 dropped
                        for axis in range(3):
                            weights[axis] -= 2.0 * goal[axis]
                        weights[12] += 1.0
            if rotation is not None:    # 3 - trace(R_t^T R), 3 dropped
                weights[3:12] = [-ROTATION_WEIGHT * v for v in rotation.ravel().tolist()]
            term = product(np.array([weights]), features)[0]
            for t in extra:
                term += t
            score = term if score is None else score + term
        if score is None:
            return None
        count = min(count, RANKED_SIZE)
        best = score.argpartition(count - 1)[:count]
        return best[score[best].argsort(kind='stable')]

    def _targets_in_base(self, model: RobotModel, o, idx: np.ndarray, seed: np.ndarray,
                         in_root: Optional[tuple] = None) -> Optional[tuple]:
        """
        Return ((link id, base slot), target points (P, 3), rotation (3, 3) or None).

        The targets are in the frame of the link's still base link (``base_slot``), posed
        at the seed (n,). None when the targets are not in the root frame or a still link, or
        no active dof moves the link. in_root: the objective's ``targets_in_root``.
        """
        if in_root is None:
            in_root = targets_in_root(model, o, seed, idx)
        if in_root is None:
            return None
        link_id = model.link_id(o.link)
        base = self.base_slot(link_id, idx)
        if base is None:
            return None
        points, rotation = in_root
        base_link = model.link_names[self._base_link(link_id, base)] if base >= 0 else None
        if base_link is not None and base_link == o.ref_link:    # given in the base frame
            return (link_id, base), o.target_points, \
                None if rotation is None else o.target_rotation
        if base_link is not None:        # a torso held still: its pose at the seed
            pose = model.held_pose(base_link, seed)
            points = product(points - pose[:3, 3], pose[:3, :3])
            rotation = None if rotation is None else product(pose[:3, :3].T, rotation)
        return (link_id, base), points, rotation


renew_locks_after_fork(SeedTable, '_lock')


def _over_base(kin: LinkKinematics, frames: np.ndarray, link_id: int,
               base_link: Optional[int]) -> np.ndarray:
    """Poses (B, 4, 4) of a link in its base link's frame (None: the root), from frames."""
    poses = kin.link_pose(frames, link_id)
    if base_link is None:
        return poses
    return product(rigid_inverse(kin.link_pose(frames, base_link)), poses)
