"""
A link's table poses, indexed by what turning the first joint of its chain leaves alone.

The first joint of a link's chain turns the link about a fixed axis. Turned about that
axis, one table entry reaches a whole circle of poses, so the table is compared with a
target in coordinates that turning cannot change: the link origin's distance from the
axis and height along it, and the link rotation seen from the origin's azimuth. The
entry that fits best becomes a start with its first joint turned to the target's
azimuth. The table then covers the workspace as densely as one many times its size.

The comparison is the seed table's score (squared distance [m^2] plus ``rotation_weight``
times 3 - trace(R_target^T R)), taken at the target's azimuth. Scoring every entry for
every target would cost more than it saves, so the entries are grouped into leaves of
``LEAF`` nearby poses (a balanced k-d split) and only the leaves whose mean pose scores
best are scored in full.
"""
from __future__ import annotations

import math
from typing import Optional

from numba import njit
import numpy as np

from . import exact_math

LEAF = 128              # entries per leaf
LEAVES_SCANNED = 2      # leaves scored in full per target (at least)


@njit(nogil=True, cache=True)
def axis_features(from_root, pose, features):
    """
    Write a pose's features (12,) seen from the axis frame; return its azimuth [rad].

    from_root (4, 4) maps the pose's frame into the axis frame (z: the joint axis); pose
    (4, 4). The pose, turned about z so that its point lies at azimuth 0 (in the x-z
    half plane), gives: the point's distance from the axis and height along it [m],
    their squares summed, and the turned rotation Rz(-azimuth) R row-major (9).
    """
    point = np.empty(3)
    rotation = np.empty((3, 3))
    for i in range(3):
        point[i] = from_root[i, 3]
        for j in range(3):
            point[i] += from_root[i, j] * pose[j, 3]
            acc = 0.0
            for k in range(3):
                acc += from_root[i, k] * pose[k, j]
            rotation[i, j] = acc
    azimuth = exact_math.atan2(point[1], point[0])
    s, c = exact_math.sincos(azimuth)
    distance, height = exact_math.hypot(point[0], point[1]), point[2]
    features[0], features[1] = distance, height
    features[2] = distance * distance + height * height
    for j in range(3):
        features[3 + j] = c * rotation[0, j] + s * rotation[1, j]
        features[6 + j] = c * rotation[1, j] - s * rotation[0, j]
        features[9 + j] = rotation[2, j]
    return azimuth


@njit(nogil=True, cache=True)
def _all_axis_features(from_root, poses, features, azimuth):
    """``axis_features`` of poses (N, 4, 4) into features (12, N) and azimuth (N,)."""
    one = np.empty(12)
    for n in range(poses.shape[0]):
        azimuth[n] = axis_features(from_root, poses[n], one)
        features[:, n] = one


class TurnedPoses:
    """
    Table poses of one link seen from the first joint's axis, grouped into leaves.

    The axis frame is the first joint's frame at joint value 0: its z axis is the joint
    axis; ``from_root`` (4, 4) maps coordinates of the frame the poses are given in (the
    root, or the chain's still base: ``seed_table``) into it.
    """

    def __init__(self, poses: np.ndarray, first_dof: int, first_values: np.ndarray,
                 from_root: np.ndarray, limits: tuple[float, float], rotation_weight: float):
        """
        Index link poses (N, 4, 4) in the table's frame, N a multiple of ``LEAF``.

        first_dof: the first joint's dof index; first_values (N,): its value in each
        entry [rad]; limits: its (lower, upper) [rad], finite; rotation_weight: the
        score's weight of the rotation term [m^2 per rad^2].
        """
        self.dof, self.from_root = first_dof, from_root
        self.lower, self.upper = limits
        self.rotation_weight = rotation_weight
        # score features (12, N): distance, height, their squares summed, turned rotation
        features, azimuth = np.empty((12, len(poses))), np.empty(len(poses))
        _all_axis_features(from_root, np.ascontiguousarray(poses), features, azimuth)
        # the first joint's value minus the azimuth: offset + phi puts the pose at phi
        offset = first_values - azimuth
        # coordinates in which the score is a squared distance (3 - trace(A^T B) is half
        # the squared Frobenius distance of rotations A and B), for grouping
        coordinates = np.vstack([features[:2], math.sqrt(rotation_weight / 2) * features[3:]])
        order = np.concatenate(_balanced_split(coordinates.T, np.arange(len(offset))))
        leaves = len(order) // LEAF
        self.entries = order.reshape(leaves, LEAF)                  # table index per slot
        # single precision: scoring streams the leaves' features through the cache
        self.features = np.ascontiguousarray(
            features[:, order].reshape(12, leaves, LEAF).transpose(1, 0, 2), dtype=np.float32)
        self.mean_features = self.features.mean(axis=2).T.copy()    # (12, C)
        # stored from the lower limit (where the 2 pi interval of joint values starts)
        # and wrapped into [0, 2 pi)
        self.offset = np.remainder(offset[order] - self.lower, 2.0 * math.pi).reshape(leaves, LEAF)
        self.span = self.upper - self.lower

    def starts(self, point: np.ndarray, rotation: Optional[np.ndarray], count: int,
               table_q: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """
        Return up to ``count`` starts for a target, (count, k) over dofs idx, best first.

        point (3,) [m] and rotation (3, 3), or None for a position-only target, in the
        table's frame. Each start is a table entry (table_q (N, n): the table's
        configurations) with the first joint turned to the target's azimuth, wrapped into
        [lower, lower + 2 pi); the entries that this puts beyond the upper limit come last.
        """
        leaves = len(self.entries)
        scanned = min(leaves, max(LEAVES_SCANNED, -(-2 * count // LEAF)))
        out = np.empty((min(count, scanned * LEAF), len(idx)))
        _turned_starts(self.from_root, np.ascontiguousarray(point, dtype=float),
                       _IDENTITY if rotation is None else
                       np.ascontiguousarray(rotation, dtype=float),
                       0.0 if rotation is None else -self.rotation_weight, self.span,
                       self.mean_features, self.features, self.offset, self.entries, scanned,
                       self.lower, table_q, self.dof, idx, out)
        return out


_IDENTITY = np.eye(3)


@njit(nogil=True, cache=True)
def _turned_starts(from_root, point, rotation, rotation_factor, span, mean_features, features,
                   offset, table_entries, scanned, lower, table_q, dof, idx, out):
    """
    Write the best starts (count, k) for a target into out (``TurnedPoses.starts``).

    The target's score weights (``_target_weights``), its best entries (``_nearest``),
    and each entry's configuration over idx (k,) from table_q (N, n) with its first joint
    ``dof`` turned: the offset found plus ``lower``.
    """
    weights = np.empty(12)
    azimuth = _target_weights(from_root, point, rotation, rotation_factor, weights)
    count = out.shape[0]
    entries, turn = np.empty(count, dtype=np.int64), np.empty(count)
    _nearest(weights, azimuth % (2.0 * math.pi), span, mean_features, features, offset,
             table_entries, scanned, entries, turn)
    for r in range(count):
        first = turn[r] + lower
        for j in range(idx.shape[0]):
            out[r, j] = first if idx[j] == dof else table_q[entries[r], idx[j]]


@njit(nogil=True, cache=True)
def _target_weights(from_root, point, rotation, rotation_factor, weights):
    """
    Write a target's score weights (12,) into weights; return its azimuth [rad].

    point (3,), rotation (3, 3): the target pose; rotation_factor: minus the rotation
    weight, or 0 for a position-only target. An entry's score at the target's azimuth
    is weights @ its features, up to a constant.
    """
    pose = np.eye(4)
    for i in range(3):
        pose[i, 3] = point[i]
        for j in range(3):
            pose[i, j] = rotation[i, j]
    azimuth = axis_features(from_root, pose, weights)
    weights[0], weights[1], weights[2] = -2.0 * weights[0], -2.0 * weights[1], 1.0
    for f in range(3, 12):
        weights[f] *= rotation_factor
    return azimuth


@njit(nogil=True, cache=True)
def _nearest(weights, azimuth, span, mean_features, features, offset, table_entries, scanned,
             entries, turn):
    """
    Fill ``entries`` and ``turn`` (count,) with the best entries of the best leaves, best first.

    The ``scanned`` leaves whose mean features score lowest are scored entry by entry
    (weights . features); each entry's first joint is turned by the target's azimuth
    (wrapped into [0, 2 pi) from the lower limit); entries turned beyond ``span`` score
    +inf. Equal scores keep the order of the leaves and of the entries in them: the order
    depends on the inputs only.
    """
    leaves, rows = mean_features.shape[1], features.shape[1]
    # the ``scanned`` best leaves, best first (a leaf ties with an earlier one behind it)
    picked = np.arange(scanned)
    picked_score = np.full(scanned, np.inf)
    for c in range(leaves):
        acc = 0.0
        for f in range(rows):
            acc += weights[f] * mean_features[f, c]
        if acc < picked_score[scanned - 1]:
            slot = scanned - 1
            while slot > 0 and acc < picked_score[slot - 1]:
                picked_score[slot], picked[slot] = picked_score[slot - 1], picked[slot - 1]
                slot -= 1
            picked_score[slot], picked[slot] = acc, c
    size = features.shape[2]
    two_pi = 2.0 * math.pi
    count = entries.shape[0]
    kept_score = np.empty(count)    # the scores of entries[:kept], ascending
    kept = 0
    score = np.empty(size)
    for a in range(scanned):
        c = picked[a]
        # feature by feature: the leaf's features are read in memory order
        score[:] = 0.0
        for f in range(rows):
            w = weights[f]
            for e in range(size):
                score[e] += w * features[c, f, e]
        for e in range(size):
            t = offset[c, e] + azimuth
            if t >= two_pi:
                t -= two_pi
            acc = np.inf if span < two_pi and t > span else score[e]
            # insert into the ``count`` best so far, after those scoring the same
            if kept < count:
                slot = kept
                kept += 1
            elif acc < kept_score[count - 1]:
                slot = count - 1
            else:
                continue
            while slot > 0 and acc < kept_score[slot - 1]:
                kept_score[slot] = kept_score[slot - 1]
                entries[slot], turn[slot] = entries[slot - 1], turn[slot - 1]
                slot -= 1
            kept_score[slot], entries[slot], turn[slot] = acc, table_entries[c, e], t


def _balanced_split(points: np.ndarray, ids: np.ndarray) -> list:
    """Split ids into leaves of ``LEAF``: halve at the median of the widest coordinate."""
    if len(ids) <= LEAF:
        return [ids]
    spread = points[ids].var(axis=0)
    ids = ids[np.argsort(points[ids, int(np.argmax(spread))], kind='stable')]
    half = len(ids) // 2
    return _balanced_split(points, ids[:half]) + _balanced_split(points, ids[half:])
