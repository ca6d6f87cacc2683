"""
End-effector poses as datasets store them, turned into 4x4 transforms, frame by frame.

A pose is a run of numbers in a vector column, starting at an offset:
  xyz_xyzw   position [m], quaternion (x, y, z, w)           7 numbers
  xyz_wxyz   position [m], quaternion (w, x, y, z)           7 numbers
  xyz_rpy    position [m], roll, pitch, yaw [rad] (URDF's fixed-axis XYZ convention)  6
  matrix     a 4x4 homogeneous transform, row-major          16 numbers
A frame whose numbers are not finite, whose quaternion is further than 1e-3 from unit
norm, or whose matrix is not a rigid transform (rotation off by more than 1e-6) is
marked invalid: it gets no label, never a guessed one.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from ..core.transforms import rpy_to_matrix, unit_quaternion_rows

POSE_FORMATS = {'xyz_xyzw': 7, 'xyz_wxyz': 7, 'xyz_rpy': 6, 'matrix': 16}
QUATERNION_NORM_TOLERANCE = 1e-3
MATRIX_TOLERANCE = 1e-6


def pose_matrices(values: np.ndarray, pose_format: str) -> tuple[np.ndarray, np.ndarray]:
    """
    Return (poses (N, 4, 4), valid (N,) bool) from numbers (N, POSE_FORMATS[format]).

    Invalid frames' poses are the identity (never used).
    """
    if pose_format not in POSE_FORMATS:
        raise ValueError(f'pose format {pose_format!r} is not one of {", ".join(POSE_FORMATS)}')
    values = np.asarray(values, dtype=float)
    width = POSE_FORMATS[pose_format]
    if values.ndim != 2 or values.shape[1] != width:
        raise ValueError(f'{pose_format} poses take {width} numbers per frame, got shape '
                         f'{values.shape}')
    count = len(values)
    poses = np.tile(np.eye(4), (count, 1, 1))
    valid = np.isfinite(values).all(axis=1)
    if pose_format == 'matrix':
        m = values.reshape(count, 4, 4)
        r = m[:, :3, :3]
        orthonormal = np.abs(np.einsum('nij,nkj->nik', r, r) - np.eye(3)).max(
            axis=(1, 2), initial=0.0) <= MATRIX_TOLERANCE
        turning = np.linalg.det(np.where(valid[:, None, None], r, np.eye(3))) > 0
        rigid = orthonormal & turning
        valid &= rigid & (np.abs(m[:, 3] - [0, 0, 0, 1]).max(axis=1, initial=0.0) == 0)
        poses[valid] = m[valid]
        return poses, valid
    poses[:, :3, 3] = np.where(valid[:, None], values[:, :3], 0.0)
    # rotations by elementwise arithmetic and the project's own sines (the same bits on
    # every machine; scipy's go through the C library's trigonometry and BLAS)
    if pose_format == 'xyz_rpy':
        for i in np.flatnonzero(valid).tolist():
            poses[i, :3, :3] = rpy_to_matrix(values[i, 3:6])
        return poses, valid
    q = np.where(valid[:, None], values[:, 3:7] if pose_format == 'xyz_xyzw' else
                 values[:, [4, 5, 6, 3]], [0.0, 0.0, 0.0, 1.0])
    norm = np.sqrt(q[:, 0] * q[:, 0] + q[:, 1] * q[:, 1] + q[:, 2] * q[:, 2] + q[:, 3] * q[:, 3])
    valid &= np.abs(norm - 1.0) <= QUATERNION_NORM_TOLERANCE
    rows = unit_quaternion_rows(*(q[:, k] / norm for k in range(4)))
    poses[valid, :3, :3] = np.stack([np.stack(row, axis=1) for row in rows], axis=1)[valid]
    return poses, valid


def pose_numbers(poses: np.ndarray, pose_format: str) -> np.ndarray:
    """Return the numbers (N, width) of transforms (N, 4, 4) in ``pose_format``."""
    poses = np.asarray(poses, dtype=float)
    if pose_format == 'matrix':
        return poses.reshape(len(poses), 16)
    rotation = Rotation.from_matrix(poses[:, :3, :3])
    if pose_format == 'xyz_rpy':
        return np.hstack([poses[:, :3, 3], rotation.as_euler('xyz')])
    xyzw = rotation.as_quat()
    tail = xyzw if pose_format == 'xyz_xyzw' else xyzw[:, [3, 0, 1, 2]]
    return np.hstack([poses[:, :3, 3], tail])
