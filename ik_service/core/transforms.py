"""
Rigid-body helpers on numpy arrays.

Rotations are 3x3 matrices; quaternions are (x, y, z, w) like geometry_msgs. Every
function takes and returns arrays with leading batch dimensions where noted.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

from .errors import InvalidObjectiveError


def rpy_to_matrix(rpy) -> np.ndarray:
    """URDF roll-pitch-yaw [rad] (fixed axes X, then Y, then Z) to a rotation matrix."""
    r, p, y = (float(v) for v in rpy)
    cr, sr, cp, sp, cy, sy = np.cos(r), np.sin(r), np.cos(p), np.sin(p), np.cos(y), np.sin(y)
    return np.array(
        [
            [cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
            [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
            [-sp, cp * sr, cp * cr],
        ]
    )


def make_transform(rotation: np.ndarray, translation) -> np.ndarray:
    """Build a 4x4 homogeneous transform from a rotation matrix and a translation [m]."""
    t = np.eye(4)
    t[:3, :3] = rotation
    t[:3, 3] = translation
    return t


def quaternion_to_matrix(q, normalize_tolerance: float = 1e-3) -> np.ndarray:
    """
    Convert a unit quaternion (x, y, z, w) to a rotation matrix.

    Raises InvalidObjectiveError for non-finite values or a norm further than
    ``normalize_tolerance`` from 1 (a small deviation, as from float32 round trips,
    is normalised away).
    """
    q = np.asarray(q, dtype=float)
    if q.shape != (4,) or not np.all(np.isfinite(q)):
        raise InvalidObjectiveError(
            f'quaternion must be 4 finite numbers (x, y, z, w), got {q.tolist()}'
        )
    n = float(np.linalg.norm(q))
    if abs(n - 1.0) > normalize_tolerance:
        raise InvalidObjectiveError(
            f'quaternion (x, y, z, w) = {q.tolist()} has norm {n:.6g}; it must be a unit '
            'quaternion (identity is w: 1.0)'
        )
    x, y, z, w = q / n
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def matrix_to_quaternion(r: np.ndarray) -> np.ndarray:
    """
    Rotation matrices (..., 3, 3) to unit quaternions (..., 4) as (x, y, z, w), w >= 0.

    Shepperd's method: the largest of the four squared components is computed from the
    diagonal and the others from off-diagonal sums, so it is accurate at every angle,
    including half turns.
    """
    r = np.asarray(r, dtype=float)
    m00, m11, m22 = r[..., 0, 0], r[..., 1, 1], r[..., 2, 2]
    # 4*[w^2, x^2, y^2, z^2]
    cand = np.stack(
        [1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22],
        axis=-1,
    )
    k = np.argmax(cand, axis=-1)
    s = np.sqrt(np.maximum(np.take_along_axis(cand, k[..., None], -1)[..., 0], 1e-300))
    d21, d02, d10 = (
        r[..., 2, 1] - r[..., 1, 2],
        r[..., 0, 2] - r[..., 2, 0],
        r[..., 1, 0] - r[..., 0, 1],
    )
    s21, s02, s10 = (
        r[..., 2, 1] + r[..., 1, 2],
        r[..., 0, 2] + r[..., 2, 0],
        r[..., 1, 0] + r[..., 0, 1],
    )
    # rows: candidate k; columns: 4*(x, y, z, w) * s... each divided by s below
    q = np.where(
        k[..., None] == 0,
        np.stack([d21, d02, d10, s * s], -1),
        np.where(
            k[..., None] == 1,
            np.stack([s * s, s10, s02, d21], -1),
            np.where(
                k[..., None] == 2,
                np.stack([s10, s * s, s21, d02], -1),
                np.stack([s02, s21, s * s, d10], -1),
            ),
        ),
    )
    q = q / (2.0 * s[..., None])
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    return np.where(q[..., 3:4] < 0, -q, q)


def rotation_log(r: np.ndarray) -> np.ndarray:
    """
    Rotation vectors (..., 3) [rad] of rotation matrices (..., 3, 3).

    Away from a half turn the axis comes from the skew part (sin(angle) * axis) and the
    angle from atan2, which is exact near 0. Within 1e-2 rad of a half turn the skew
    part vanishes, so those entries go through the quaternion (Shepperd), which is exact
    there.
    """
    r = np.asarray(r, dtype=float)
    flat = r.reshape(-1, 9)
    parts = flat @ _SKEW_AND_TRACE
    return log_from_skew_and_trace(parts, lambda rows: r.reshape(-1, 3, 3)[rows]).reshape(
        r.shape[:-2] + (3,))


def skew_and_trace_map(target: np.ndarray) -> np.ndarray:
    """
    Return M (9, 4) with R.ravel() @ M = (skew vector, trace) of R @ target^T.

    Both are linear in R, so for a fixed target the error rotation's parts come from
    one matrix product instead of forming R @ target^T. M is linear in the target too,
    so it is one product of a constant tensor with target.ravel().
    """
    return (_SKEW_AND_TRACE_TENSOR @ np.ravel(target)).reshape(9, 4)


def _skew_and_trace_tensor() -> np.ndarray:
    """
    T (36, 9) for ``skew_and_trace_map``; column e is the map of the e-th unit target.

    With E = R T^T, E_ij = sum_k R_ik T_jk, so the trace takes T_ik at R_ik, and each
    component of (E - E^T) / 2 takes +-T_jk / 2 at R_ik.
    """
    tensor = np.zeros((9, 4, 9))
    for e in range(9):
        target = np.zeros(9)
        target[e] = 1.0
        target = target.reshape(3, 3)
        m = tensor[:, :, e]
        m[:, 3] = target.ravel()
        half = 0.5 * target
        m[6:9, 0], m[3:6, 0] = half[1], -half[2]   # (E_21 - E_12) / 2
        m[0:3, 1], m[6:9, 1] = half[2], -half[0]   # (E_02 - E_20) / 2
        m[3:6, 2], m[0:3, 2] = half[0], -half[1]   # (E_10 - E_01) / 2
    return tensor.reshape(36, 9)


_SKEW_AND_TRACE_TENSOR = _skew_and_trace_tensor()


def log_from_skew_and_trace(parts: np.ndarray, matrices_at) -> np.ndarray:
    """
    Rotation vectors (B, 3) from (skew vector, trace) rows (B, 4) of rotation matrices.

    ``matrices_at(rows)`` returns the full matrices of the given rows; it is called only
    for rotations within 1e-2 rad of a half turn.
    """
    return log_from_skew_and_cos(parts[:, :3], 0.5 * (parts[:, 3] - 1.0), matrices_at)


def log_from_skew_and_cos(s: np.ndarray, cos: np.ndarray, matrices_at,
                          out: Optional[np.ndarray] = None) -> np.ndarray:
    """
    Rotation vectors (B, 3) from the skew vectors s (B, 3) and angle cosines (B,).

    s = vee((R - R^T) / 2) = sin(angle) axis and cos = (trace R - 1) / 2, so the angle is
    atan2(|s|, cos), exact near 0. ``matrices_at(rows)`` returns the full matrices of
    the given rows; it is called only for rotations within 1e-2 rad of a half turn, where
    s vanishes and the axis comes from the symmetric part. ``out``: where to write.
    """
    sin = np.sqrt(np.einsum('bi,bi->b', s, s))
    angle = np.arctan2(sin, cos)
    # angle / sin -> 1 as both go to 0 (and s = 0 there makes e = 0)
    e = np.multiply(s, (angle / np.maximum(sin, 1e-300))[:, None], out=out)
    if angle.max(initial=0.0) > np.pi - 1e-2:
        near_pi = angle > np.pi - 1e-2
        e[near_pi] = angle[near_pi, None] * _half_turn_axis(
            matrices_at(near_pi), s[near_pi], cos[near_pi])
    return e


def rotation_vector_from_parts(s, cos: float) -> Optional[tuple]:
    """
    Rotation vector angle * axis [rad] of one rotation, in plain floats (no numpy calls).

    s: its skew vector sin(angle) axis (3 floats); cos: cos(angle). The same numbers as
    ``log_from_skew_and_cos`` for one row, which is several times slower for a single
    rotation. None within 1e-2 rad of a half turn, where the axis needs the full matrix.
    """
    x, y, z = s
    sin = math.hypot(x, y, z)
    angle = math.atan2(sin, cos)
    if angle > math.pi - 1e-2:
        return None
    scale = angle / sin if sin > 0.0 else 1.0      # s = 0 there, so the vector is 0
    return x * scale, y * scale, z * scale


def half_angle_vector(s: np.ndarray, half_cos_sq: np.ndarray, matrices_at,
                      out: Optional[np.ndarray] = None) -> np.ndarray:
    """
    Vectors 2 sin(angle / 2) axis (B, 3) of rotations: twice their quaternions' vector part.

    From the skew vectors s = sin(angle) axis (B, 3) and cos^2(angle / 2) = (1 + cos
    angle) / 2 (B,): s = 2 sin(angle / 2) cos(angle / 2) axis, so the vector is s / cos(angle
    / 2), two numpy calls. Its length grows monotonically with the angle over [0, pi] and
    equals the angle to third order. Within 1e-2 rad of a half turn, where s and cos(angle
    / 2) both vanish, the axis comes from the full matrices ``matrices_at(rows)``.
    """
    if np.minimum.reduce(half_cos_sq) > 2.5e-5:     # cos(angle / 2) > 5e-3: not a half turn
        return np.divide(s, np.sqrt(half_cos_sq)[:, None], out=out)
    near = half_cos_sq <= 2.5e-5
    e = np.empty_like(s) if out is None else out
    e[~near] = s[~near] / np.sqrt(half_cos_sq[~near])[:, None]
    h = np.clip(half_cos_sq[near], 0.0, 1.0)
    axis = _half_turn_axis(matrices_at(near), s[near], 2.0 * h - 1.0)
    e[near] = 2.0 * np.sqrt(1.0 - h)[:, None] * axis
    return e


def angle_from_half_angle_vector(e) -> tuple:
    """Rotation vector angle * axis (3 floats) from the half-angle vector 2 sin(angle / 2) axis."""
    x, y, z = e
    length = math.hypot(x, y, z)
    if length == 0.0:
        return 0.0, 0.0, 0.0
    scale = 2.0 * math.asin(min(0.5 * length, 1.0)) / length
    return x * scale, y * scale, z * scale


def _half_turn_axis(r: np.ndarray, s: np.ndarray, cos: np.ndarray) -> np.ndarray:
    """
    Find the unit axes (k, 3) of rotations (k, 3, 3) near a half turn.

    The symmetric part minus cos(angle) I is exactly (1 - cos) a a^T, so its largest
    column is the axis up to sign; the skew part s = sin(angle) a fixes the sign.
    """
    sym = 0.5 * (r + r.transpose(0, 2, 1)) - cos[:, None, None] * _EYE
    k = np.argmax(np.einsum('bii->bi', sym), axis=1)
    axis = sym[np.arange(len(r)), :, k]
    axis /= np.linalg.norm(axis, axis=1, keepdims=True)
    return np.where(np.einsum('bi,bi->b', axis, s)[:, None] < 0, -axis, axis)


_EYE = np.eye(3)


def rotation_angle(r: np.ndarray) -> np.ndarray:
    """Rotation angles [rad] in [0, pi] of rotation matrices (..., 3, 3)."""
    q = matrix_to_quaternion(r)
    return 2.0 * np.arctan2(np.linalg.norm(q[..., :3], axis=-1), np.abs(q[..., 3]))


# LEVI_CIVITA[i, j, k] = 1 for even permutations of (0, 1, 2), -1 for odd ones.
LEVI_CIVITA = np.zeros((3, 3, 3))
LEVI_CIVITA[0, 1, 2] = LEVI_CIVITA[1, 2, 0] = LEVI_CIVITA[2, 0, 1] = 1.0
LEVI_CIVITA[0, 2, 1] = LEVI_CIVITA[2, 1, 0] = LEVI_CIVITA[1, 0, 2] = -1.0
_SKEW_ROWS, _SKEW_COLS = [2, 0, 1], [1, 2, 0]


def vee_of_skew_part(r: np.ndarray) -> np.ndarray:
    """Return the vector (..., 3) of the skew part (r - r^T) / 2 of matrices (..., 3, 3)."""
    return 0.5 * (r[..., _SKEW_ROWS, _SKEW_COLS] - r[..., _SKEW_COLS, _SKEW_ROWS])


# R.ravel() @ this = (vee((R - R^T) / 2), trace R)
_SKEW_AND_TRACE = skew_and_trace_map(np.eye(3))


def orthonormal_complement(direction: np.ndarray) -> np.ndarray:
    """Two unit vectors (2, 3) orthogonal to ``direction`` and to each other."""
    d = np.asarray(direction, dtype=float)
    d = d / np.linalg.norm(d)
    helper = np.array([1.0, 0.0, 0.0]) if abs(d[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    u = np.cross(d, helper)
    u /= np.linalg.norm(u)
    return np.stack([u, np.cross(d, u)])
