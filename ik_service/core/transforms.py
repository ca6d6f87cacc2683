"""
Rigid-body helpers on numpy arrays.

Rotations are 3x3 matrices; quaternions are (x, y, z, w) like geometry_msgs. Every
function takes and returns arrays with leading batch dimensions where noted.
"""

from __future__ import annotations

import math

from numba import guvectorize
import numpy as np

from . import exact_math
from .errors import InvalidObjectiveError


def rpy_to_matrix(rpy) -> np.ndarray:
    """URDF roll-pitch-yaw [rad] (fixed axes X, then Y, then Z) to a rotation matrix."""
    (sr, cr), (sp, cp), (sy, cy) = (exact_math.sincos(float(v)) for v in rpy)
    return np.array(
        [
            [cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
            [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
            [-sp, cp * sr, cp * cr],
        ]
    )


@guvectorize(['void(f8[:, :], f8[:, :], f8[:, :])'], '(n,k),(k,m)->(n,m)', nopython=True,
             cache=True)
def product(a, b, out):
    """
    Return the matrix product a @ b of (..., n, k) and (..., k, m), the same bits everywhere.

    Summed term by term in a fixed order, which IEEE 754 rounds alike on every machine
    (compiled without fused multiply-adds); numpy's ``@`` goes to the BLAS, whose kernels
    (chosen by CPU) sum in other orders and fuse multiply-adds, so its last bits depend on
    the machine. A compiled generalized ufunc: leading dimensions broadcast as numpy's do,
    and a call on 3x3 matrices costs about a microsecond (numpy's elementwise form, ~5).
    """
    for i in range(a.shape[0]):
        for j in range(b.shape[1]):
            total = a[i, 0] * b[0, j]
            for m in range(1, a.shape[1]):
                total = total + a[i, m] * b[m, j]
            out[i, j] = total


@guvectorize(['void(f8[:, :], f8[:], f8[:])'], '(m,m),(k)->(k)', nopython=True, cache=True)
def transform_points(pose, point, out):
    """
    Return points (..., 3) [m] moved by a rigid transform pose (4, 4): R p + t.

    Summed in a fixed order, like ``product`` (the same bits on every machine).
    """
    for i in range(3):
        out[i] = pose[i, 0] * point[0] + pose[i, 1] * point[1] + pose[i, 2] * point[2] \
            + pose[i, 3]


def norm(v) -> float:
    """Return the Euclidean length of a vector, summed in order (the same bits everywhere)."""
    return math.sqrt(sum(x * x for x in np.asarray(v, dtype=float).tolist()))


def rigid_inverse(t: np.ndarray) -> np.ndarray:
    """Return the inverse of rigid transforms t (..., 4, 4): (R^T, -R^T p)."""
    out = np.zeros_like(t)
    rotation_t = np.swapaxes(t[..., :3, :3], -1, -2)
    out[..., :3, :3] = rotation_t
    out[..., :3, 3:4] = -product(rotation_t, t[..., :3, 3:4])
    out[..., 3, 3] = 1.0
    return out


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
    try:
        values = [float(v) for v in q]      # plain floats: 4 numbers, no numpy calls
    except (TypeError, ValueError):
        values = []
    if len(values) != 4 or not all(map(math.isfinite, values)):
        raise InvalidObjectiveError(
            f'quaternion must be 4 finite numbers (x, y, z, w), got {q!r:.200}'
        )
    n = math.sqrt(sum(v * v for v in values))
    if abs(n - 1.0) > normalize_tolerance:
        raise InvalidObjectiveError(
            f'quaternion (x, y, z, w) = {values} has norm {n:.6g}; it must be a unit '
            'quaternion (identity is w: 1.0)'
        )
    return np.array(unit_quaternion_rows(*(v / n for v in values)))


def unit_quaternion_rows(x, y, z, w) -> tuple:
    """Return the rows of the rotation of unit quaternions: floats, or arrays (N,) each."""
    return ((1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)),
            (2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)),
            (2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)))


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


def rotation_angle(r: np.ndarray) -> np.ndarray:
    """Rotation angles [rad] in [0, pi] of rotation matrices (..., 3, 3)."""
    q = matrix_to_quaternion(r)
    return 2.0 * np.arctan2(np.linalg.norm(q[..., :3], axis=-1), np.abs(q[..., 3]))


def orthonormal_complement(direction: np.ndarray) -> np.ndarray:
    """Two unit vectors (2, 3) orthogonal to ``direction`` and to each other."""
    d = np.asarray(direction, dtype=float)
    d = d / norm(d)
    helper = np.array([1.0, 0.0, 0.0]) if abs(d[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    u = np.cross(d, helper)
    u /= norm(u)
    return np.stack([u, np.cross(d, u)])
