"""
Residual and Gauss-Newton terms of one point or pose target, in few numpy calls.

Most requests put one link frame (or a point on it) at a pose or position given in the
root frame, and numpy's per-call overhead, not arithmetic, is what a solve costs. This
kernel computes what ``ObjectiveSet.evaluate`` computes for such a problem (position
rows p - target [m], rotation rows for E = R R_target^T, root frame; the same Jacobian)
with about half the calls:

- the point's position, its offset from the target and the error rotation's skew
  vector and cos^2(angle / 2) = (trace E + 1) / 4 are all linear in the entries of the
  link's frame transform, so they come from one product with a (16, c) matrix; the
  homogeneous 1 in the transform's last entry carries the constants;
- the descent's rotation rows are 2 sin(angle / 2) axis (twice the error quaternion's
  vector part: two calls from those features, where the log needs seven), which equals
  log(E) to third order and grows with the angle; ``residual`` and ``reported`` give
  the log rows that results report;
- frames are z-aligned (``LinkKinematics``), so joint axes and origins are views;
- J^T J, J^T r and r.r go straight into a ``NormalEquations`` batch.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from .model import LinkKinematics
from .normal_equations import NormalEquations
from .objectives import ObjectiveSet
from .transforms import (angle_from_half_angle_vector, half_angle_vector, LEVI_CIVITA,
                         log_from_skew_and_cos, rotation_vector_from_parts,
                         skew_and_trace_map)


def _point_tensor() -> np.ndarray:
    """Return T (48, 4): (T @ point).reshape(16, 3) maps a flat transform F to F[:3] @ point."""
    t = np.zeros((16, 3, 4))
    for axis in range(3):
        t[4 * axis:4 * axis + 4, axis] = np.eye(4)
    return t.reshape(48, 4)


def _rotation_tensor() -> np.ndarray:
    """
    Return T (64, 9) with (T @ G.ravel()).reshape(16, 4) mapping a flat transform to terms.

    The map takes a flat 4x4 transform F to (skew vector, trace / 4) of F[:3, :3] @ G.
    Both are linear in G, so column e is the map of the e-th unit matrix.
    """
    t = np.zeros((16, 4, 9))
    rotation_entries = [0, 1, 2, 4, 5, 6, 8, 9, 10]   # of a flat 4x4, row-major
    for e in range(9):
        unit = np.zeros(9)
        unit[e] = 1.0
        m = skew_and_trace_map(unit.reshape(3, 3).T)
        m[:, 3] *= 0.25
        t[rotation_entries, :, e] = m
    return t.reshape(64, 9)


# Row-wise dot products (B, m), (B, m) -> (B,): the numpy >= 2 ufunc costs half einsum's call
# overhead; numpy 1.x (a ROS Jazzy install) takes einsum.
_vecdot = getattr(np, 'vecdot', None) or (
    lambda a, b, out: np.einsum('bm,bm->b', a, b, out=out))
_POINT_TENSOR = _point_tensor()
_ROTATION_TENSOR = _rotation_tensor()


def _link_template(kin: LinkKinematics, link_id: int, local: Optional[np.ndarray],
                   rotation: bool) -> tuple:
    """
    Return the target-independent part of a kernel's feature map, cached per link and point.

    Returns (frame slot, offset (4, 4), base map (16, c), rotation map (16 c, 9) or None):
    the base map holds the point columns and the constant 1/4 of the cos^2(angle / 2) =
    (trace + 1) / 4 column; the rotation map turns R_target.ravel() into the map's (skew
    vector, trace / 4) columns of R_link R_target^T = frame_R (offset_R R_target^T), zero
    elsewhere.
    """
    key = (link_id, None if local is None else local.tobytes(), rotation)
    cache = kin.kernel_templates
    template = cache.get(key)
    if template is None:
        frame, offset = kin.frame_of(link_id)
        position = local is not None
        base = np.zeros((16, 3 * position + 4 * rotation + 3 * position))
        rotation_map = None
        if position:
            point = offset[:, :3] @ local + offset[:, 3]    # in the frame's coordinates
            base[:, :3] = base[:, -3:] = (_POINT_TENSOR @ point).reshape(16, 3)
        if rotation:
            base[15, 3 * position + 3] = 0.25
            # offset_R R_target^T, row-major, is (K @ R_target.ravel()) with K this (9, 9)
            fold = np.einsum('ac,bd->abdc', offset[:3, :3], np.eye(3)).reshape(9, 9)
            rotation_map = np.zeros(base.shape + (9,))
            col = 3 * position
            rotation_map[:, col:col + 4] = (_ROTATION_TENSOR @ fold).reshape(16, 4, 9)
            rotation_map = rotation_map.reshape(-1, 9)
        template = cache[key] = (frame, offset, base, rotation_map)
    return template


class PoseKernel:
    """The terms of a single fixed-point and/or fixed-rotation objective, root-frame target."""

    @classmethod
    def for_problem(cls, problem: ObjectiveSet, columns) -> Optional['PoseKernel']:
        """
        Return a kernel for ``problem``, or None when it is not a single point/pose target.

        ``columns``: as for ``ObjectiveSet.evaluate``: (S, k) from frame to Jacobian
        columns, or False to keep the frame columns.
        """
        if len(problem.objectives) != 1:
            return None
        o = problem.objectives[0]
        one_point = o.position == 'fixed' and len(o.local_points) == 1
        if problem.uses_reference_frames or not (one_point or o.position == 'none') \
                or o.rotation == 'axial':
            return None
        return cls(problem, columns)

    def __init__(self, problem: ObjectiveSet, columns):
        o = problem.objectives[0]
        kin = problem.kinematics
        self._kin, self._columns = kin, columns
        self._position = o.position == 'fixed'
        self._rotation = o.rotation == 'fixed'
        self._basis = kin.basis if kin.has_prismatic else kin.revolute_basis
        self.num_rows = 3 * (self._position + self._rotation)
        local = o.local_points[0] if self._position else None
        self._frame, self._offset, base, rotation_map = _link_template(
            kin, problem.model.link_id(o.link), local, self._rotation)
        # features = frame.ravel() @ map: (p - target, s, h, p) with p the point [m], s
        # the skew vector and h = cos^2(angle / 2) of R_link R_target^T
        if self._rotation:
            m = rotation_map.dot(o.target_rotation.ravel()).reshape(base.shape)
            m += base
            self._target_rotation = o.target_rotation
        else:
            m = base.copy()
        if self._position:
            m[15, :3] -= o.target_points[0]
        self._map = m
        self._buffers: dict[int, tuple] = {}

    def _error_rotations(self, frame: np.ndarray) -> np.ndarray:
        """R_link R_target^T (k, 3, 3) from the link's frames (k, 4, 4), for rare rows."""
        return frame[:, :3, :3] @ self._offset[:3, :3] @ self._target_rotation.T

    def _buffers_for(self, b: int) -> tuple:
        """
        Return this kernel's work buffers for batches of b configurations.

        They are: basis (S, b, c), local and world transforms (S, b, 4, 4), Jacobian (b,
        m, S) and the chain plan over the transforms.

        They are this kernel's until ``release``, which gives them back to the link
        kinematics' pool for later solves: a feasibility check that solves again in
        between the two halves of an evaluation takes others.
        """
        buffers = self._buffers.get(b)
        if buffers is None:
            buffers = self._kin.kernel_buffers.take((b, self.num_rows),
                                                    lambda: self._new_buffers(b))
            self._buffers[b] = buffers
        return buffers

    def release(self) -> None:
        """Give the work buffers back to the pool; the solve this kernel served is over."""
        for b, buffers in self._buffers.items():
            self._kin.kernel_buffers.give((b, self.num_rows), buffers)
        self._buffers = {}

    def _new_buffers(self, b: int) -> tuple:
        """Allocate the buffers ``_buffers_for`` describes."""
        s = self._kin.num_frames
        basis = np.empty((s, b, self._basis.shape[1]))
        basis[..., 0] = 1.0
        local, world = np.empty((s, b, 4, 4)), np.empty((s, b, 4, 4))
        plan = self._kin.chain_plan(local, world)
        return basis, local, world, np.empty((b, self.num_rows, s)), plan

    def _link_features(self, v: np.ndarray, buffers: tuple):
        """World frame transforms (S, B, 4, 4), the link's frame (B, 4, 4) and its features."""
        kin = self._kin
        basis, local, world, _, plan = buffers
        np.sin(v, out=basis[..., 1])
        np.cos(v, out=basis[..., 2])
        if kin.has_prismatic:
            np.multiply(v, kin.prismatic[:, None], out=basis[..., 3])
        np.matmul(basis, self._basis, out=local.reshape(v.shape + (16,)))
        kin.chain(local, world, plan)
        frame = world[self._frame]
        return world, frame, frame.reshape(len(frame), 16).dot(self._map)

    def _residual(self, frame: np.ndarray, features: np.ndarray, r: np.ndarray,
                  reported: bool = False) -> None:
        """Write the residual rows (B, m): descent rows, or with ``reported`` the log rows."""
        if self._position:
            r[:, :3] = features[:, :3]
        if self._rotation:
            rows = 3 * self._position
            s, half_cos_sq = features[:, rows:rows + 3], features[:, rows + 3]

            def error_rotations(near):
                return self._error_rotations(frame[near])

            if reported and len(r) == 1:    # one row (a result's): plain floats are faster
                f = features[0].tolist()
                e = rotation_vector_from_parts(f[rows:rows + 3], 2.0 * f[rows + 3] - 1.0)
                if e is not None:
                    r[0, rows:] = e
                    return
            if reported:
                log_from_skew_and_cos(s, 2.0 * half_cos_sq - 1.0, error_rotations,
                                      out=r[:, rows:])
            else:
                half_angle_vector(s, half_cos_sq, error_rotations, out=r[:, rows:])

    def residual(self, v: np.ndarray) -> np.ndarray:
        """Compute the reported rows (B, m) at frame values v (S, B), without the Jacobian."""
        _, frame, features = self._link_features(v, self._buffers_for(v.shape[1]))
        r = np.empty((v.shape[1], self.num_rows))
        self._residual(frame, features, r, reported=True)
        return r

    def reported(self, r: np.ndarray) -> np.ndarray:
        """Turn one descent residual row (m,) into the reported one (rotation as a log)."""
        if not self._rotation:
            return r
        out = r.copy()
        out[-3:] = angle_from_half_angle_vector(r[-3:].tolist())
        return out

    def evaluate(self, v: np.ndarray, eq: NormalEquations) -> None:
        """Fill the residual, Jacobian and Gram terms of ``eq`` at frame values v (S, B)."""
        self.evaluate_residual(v, eq)
        self.evaluate_jacobian(eq)

    def evaluate_residual(self, v: np.ndarray, eq: NormalEquations) -> None:
        """
        Fill the residual and cost of ``eq`` at frame values v (S, B): the first half.

        ``evaluate_jacobian`` completes the same batch; a solve that finds a row within
        the tolerance here skips it.
        """
        buffers = self._buffers_for(v.shape[1])
        world, frame, features = self._link_features(v, buffers)
        self._residual(frame, features, eq.r)
        _vecdot(eq.r, eq.r, out=eq.cost)
        self._pending = (buffers, world, features)

    def evaluate_jacobian(self, eq: NormalEquations) -> None:
        """Fill the Jacobian and Gram terms of the batch ``evaluate_residual`` just filled."""
        kin = self._kin
        buffers, world, features = self._pending
        jac = eq.jacobian if self._columns is False else buffers[3]
        axes = world[:, :, :3, 2]                   # (S, B, 3) world joint axes
        turning = axes * kin.rotational[:, None, None] if kin.has_prismatic else axes
        if self._position:
            # velocity of the point per unit motion of each frame: axis x (p - origin)
            # for a revolute frame, the axis itself for a prismatic one
            arm = features[:, -3:] - world[:, :, :3, 3]
            np.einsum('ijk,sbj,sbk->bis', LEVI_CIVITA, turning, arm, out=jac[:, :3],
                      optimize=False)
            if kin.has_prismatic:
                jac[:, :3] += (axes * kin.prismatic[:, None, None]).transpose(1, 2, 0)
        if self._rotation:
            jac[:, 3 * self._position:] = turning.transpose(1, 2, 0)
        if self._columns is not False:
            np.matmul(jac, self._columns, out=eq.jacobian)
        eq.update_gram()
