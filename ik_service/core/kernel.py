"""
The compiled part of the solver: numba, nopython, the GIL released.

Forward kinematics, the residual rows and exact Jacobians of every objective kind, and
the damped least-squares iterations over a batch of configurations. Plain arrays in,
arrays out; the policy (modes, starts, restarts, budgets) stays in ``solver``. Sines,
cosines and arctangents are ``exact_math``'s, so answers are the same bits on every
machine.

Conventions. A *problem* is a chain of S frames (the movable joints above the
constrained links, parents first; ``model.LinkKinematics``), a configuration x of k
active values, and O objectives with m residual rows. Frame f has joint value
v_f = A[f] . x + c[f] (A (S, k) maps active values to frames: mimic multipliers; c
holds the inactive joints and mimic offsets) and local transform
(1, sin v, cos v, v) @ basis[f] (4 x 16, row-major 4 x 4); frames are turned so that the
joint axis is the local z axis: column 2 of a world frame transform is the joint axis,
column 3 its origin. Lengths in metres, angles in radians.

Objective tables (one row per objective; ``ObjectiveSet`` builds them):
  ints (O, 7): link slot, ref slot (NO_REF: the root), position kind, rotation kind,
      first point, point count, first residual row. A slot is a frame index, or -1 for
      a link no joint of the chain moves (its offset is then its world pose).
  offsets (O, 2, 4, 4): the link's and the reference link's pose in their frame.
  vectors (O, 7, 3): plane normal / line direction, local axis, target axis, two rows
      orthogonal to the line direction, two rows orthogonal to the target axis.
  rotations (O, 3, 3): target rotation (fixed), in the reference frame.
  ancestors (O, 2, S): 1.0 where frame f moves the link (row 0) or the reference (row 1).
  local_points, target_points (P, 3): points on links [link frame] and their targets
      [reference frame].
Position kinds: 0 none, 1 planar, 2 linear, 3 fixed; rotation kinds: 0 none, 1 axial,
2 fixed. The maths of each kind is in the docstring of its ``_*_rows`` function.
"""

from __future__ import annotations

import math

from numba import njit
import numpy as np

from . import exact_math

POS_NONE, POS_PLANAR, POS_LINEAR, POS_FIXED = 0, 1, 2, 3
NO_REF = -2             # the ref slot of an objective whose targets are in the root frame
ROT_NONE, ROT_AXIAL, ROT_FIXED = 0, 1, 2
POSITION_ROWS = (0, 1, 2, 3)
ROTATION_ROWS = (0, 2, 3)

# Outcomes of ``descend``
RAN, CONVERGED, NEED_STARTS, EXHAUSTED = 0, 1, 2, 3
# Damping beyond this (after repeated rejected steps) means the row cannot move.
MAX_DAMPING = 1e8
TWO_PI = 2.0 * math.pi
# Rows that start at once; the others take their first start once a progress window has
# passed. Most problems are solved by the seed or the best table start within a few
# iterations: a problem that is not gets every row from then on.
FIRST_ROWS = 2

_JIT = {'nogil': True, 'cache': True}


# ---------------------------------------------------------------- kinematics
@njit(**_JIT)
def frame_transforms(x, a_map, c, basis, parent, world, local):
    """
    World transforms ``world`` (S, 4, 4) of the chain's frames at active values x (k,).

    T_f = T_parent(f) @ ((1, sin v_f, cos v_f, v_f) @ basis[f]), v_f = A[f] . x + c[f];
    ``local`` (4, 4) is a work array.
    """
    for f in range(parent.shape[0]):
        v = c[f]
        for j in range(x.shape[0]):
            v += a_map[f, j] * x[j]
        s, co = exact_math.sincos(v)
        # a rigid transform: its bottom row (0, 0, 0, 1) is not computed
        for e in range(12):
            local[e // 4, e % 4] = basis[f, 0, e] + s * basis[f, 1, e] + co * basis[f, 2, e] \
                + v * basis[f, 3, e]
        p = parent[f]
        if p < 0:
            for i in range(3):
                for j in range(4):
                    world[f, i, j] = local[i, j]
            world[f, 3, 0] = world[f, 3, 1] = world[f, 3, 2] = 0.0
            world[f, 3, 3] = 1.0
        else:
            _rigid_product(world[p], local, world[f])


@njit(**_JIT)
def _rigid_product(a, b, out):
    """
    Write the product of rigid transforms a @ b (4, 4) into out.

    Only the top three rows of a and b are read; out's bottom row is (0, 0, 0, 1).
    """
    for i in range(3):
        for j in range(4):
            out[i, j] = a[i, 0] * b[0, j] + a[i, 1] * b[1, j] + a[i, 2] * b[2, j]
        out[i, 3] += a[i, 3]
    out[3, 0] = out[3, 1] = out[3, 2] = 0.0
    out[3, 3] = 1.0


@njit(**_JIT)
def inactive_values(dof_map, value_offset, q, inactive, out):
    """
    Write each frame's value from the ``inactive`` dofs (n,) at q (n,) into out (S,).

    out[f] = value_offset[f] + sum over inactive dofs j of dof_map[f, j] q[j]: the part of
    a frame's value that a solve over the other dofs keeps constant.
    """
    for f in range(dof_map.shape[0]):
        acc = value_offset[f]
        for j in range(dof_map.shape[1]):
            if inactive[j]:
                acc += dof_map[f, j] * q[j]
        out[f] = acc


@njit(**_JIT)
def batch_frame_transforms(q, a_map, c, basis, parent, out):
    """
    World transforms ``out`` (S, B, 4, 4) of the chain's frames at configurations q (B, n).

    ``frame_transforms`` for each row, with x = q[b] and A (S, n) over every dof.
    """
    world, local = np.empty((parent.shape[0], 4, 4)), np.empty((4, 4))
    for b in range(q.shape[0]):
        frame_transforms(q[b], a_map, c, basis, parent, world, local)
        for f in range(parent.shape[0]):
            out[f, b] = world[f]


@njit(**_JIT)
def _pose(world, slot, offset, out):
    """World pose ``out`` (4, 4) of a link at ``slot`` with ``offset``."""
    if slot < 0:
        out[:, :] = offset
        return
    _rigid_product(world[slot], offset, out)


@njit(**_JIT)
def _point_velocities(world, prismatic, ancestors, p, out):
    """
    Velocity columns ``out`` (3, S) of a world point p fixed to a link, per frame [m/unit].

    Revolute frame f: z_f x (p - o_f); prismatic: z_f; 0 where f does not move the link.
    """
    for f in range(world.shape[0]):
        if ancestors[f] == 0.0:
            out[0, f] = out[1, f] = out[2, f] = 0.0
            continue
        zx, zy, zz = world[f, 0, 2], world[f, 1, 2], world[f, 2, 2]
        if prismatic[f]:
            out[0, f], out[1, f], out[2, f] = zx, zy, zz
        else:
            dx, dy, dz = p[0] - world[f, 0, 3], p[1] - world[f, 1, 3], p[2] - world[f, 2, 3]
            out[0, f] = zy * dz - zz * dy
            out[1, f] = zz * dx - zx * dz
            out[2, f] = zx * dy - zy * dx


@njit(**_JIT)
def _angular_velocities(world, prismatic, ancestors, out):
    """Angular velocity columns ``out`` (3, S) of a link per frame: z_f for revolute ancestors."""
    for f in range(world.shape[0]):
        on = ancestors[f] != 0.0 and not prismatic[f]
        for i in range(3):
            out[i, f] = world[f, i, 2] if on else 0.0


@njit(**_JIT)
def _relative_to(ref, columns, carried, tmp):
    """
    Turn world velocity columns (3, S) into the reference frame, in place.

    columns := R_ref^T (columns - carried): ``carried`` is the velocity the reference
    link gives the same point (or its angular velocity); tmp (3, S) is a work array.
    """
    for f in range(columns.shape[1]):
        for i in range(3):
            tmp[i, f] = columns[i, f] - carried[i, f]
        for i in range(3):
            columns[i, f] = ref[0, i] * tmp[0, f] + ref[1, i] * tmp[1, f] + ref[2, i] * tmp[2, f]


# ---------------------------------------------------------------- objective kinds
@njit(**_JIT)
def _combined_rows(weights, columns, out):
    """Write weights (3,) times columns (3, S) into out (S,): one Jacobian row."""
    w0, w1, w2 = weights[0], weights[1], weights[2]
    for f in range(columns.shape[1]):
        out[f] = w0 * columns[0, f] + w1 * columns[1, f] + w2 * columns[2, f]


@njit(**_JIT)
def _fixed_point_rows(diff, jv, res, jac, row, with_jacobian):
    """
    Fill the 3 rows of a fixed point: r = p - t [m].

    p and its target t are in the reference frame.

    dr/dq = dp/dq: the point's velocity columns (3, S), already in the reference frame.
    """
    for i in range(3):
        res[row + i] = diff[i]
    if with_jacobian:
        for i in range(3):
            for f in range(jv.shape[1]):
                jac[row + i, f] = jv[i, f]


@njit(**_JIT)
def _planar_rows(diff, jv, normal, res, jac, row, with_jacobian):
    """
    Fill the row of a point on a plane: r = n . (p - t) [m].

    n is the plane's unit normal, t a point of the plane.

    dr/dq = n . dp/dq.
    """
    res[row] = normal[0] * diff[0] + normal[1] * diff[1] + normal[2] * diff[2]
    if with_jacobian:
        _combined_rows(normal, jv, jac[row])


@njit(**_JIT)
def _linear_rows(diff, jv, complement, res, jac, row, with_jacobian):
    """
    Fill the 2 rows of a point on a line: r = C (p - t) [m].

    C (2, 3) holds two unit rows orthogonal to the line, t is a point of it.

    |r| is the distance from the line; dr/dq = C dp/dq.
    """
    for i in range(2):
        c = complement[i]
        res[row + i] = c[0] * diff[0] + c[1] * diff[1] + c[2] * diff[2]
        if with_jacobian:
            _combined_rows(c, jv, jac[row + i])


@njit(**_JIT)
def _fixed_rotation_rows(rel, target, jw, res, jac, row, m, inv, col, with_jacobian):
    """
    Fill the 3 rows of a fixed rotation: e = log(R R_t^T) [rad].

    R is the link's rotation in the reference frame, R_t its target.

    |e| is the angle between the two orientations [rad]. Exact Jacobian: with w the
    link's angular velocity in the reference frame, d(R R_t^T) = [w]x R R_t^T, so
    de = Jl^-1(e) w with the inverse left Jacobian of SO(3)
        Jl^-1(e) = I - [e]x / 2 + beta [e]x^2,
        beta = 1 / theta^2 - 1 / (2 theta tan(theta / 2))   (-> 1/12 as theta -> 0).
    Near a half turn the axis comes from the symmetric part of R R_t^T. m, inv (3, 3)
    and col (3,) are work arrays.
    """
    for i in range(3):
        for j in range(3):
            m[i, j] = rel[i, 0] * target[j, 0] + rel[i, 1] * target[j, 1] \
                + rel[i, 2] * target[j, 2]
    vx, vy, vz = 0.5 * (m[2, 1] - m[1, 2]), 0.5 * (m[0, 2] - m[2, 0]), 0.5 * (m[1, 0] - m[0, 1])
    s = math.sqrt(vx * vx + vy * vy + vz * vz)
    cos = 0.5 * (m[0, 0] + m[1, 1] + m[2, 2] - 1.0)
    theta = exact_math.atan2(s, cos)
    if cos > -0.99:
        scale = theta / s if s > 1e-300 else 1.0
        ex, ey, ez = vx * scale, vy * scale, vz * scale
    else:       # near a half turn: (R + R^T) / 2 - cos I = (1 - cos) n n^T
        k = 0
        for i in range(1, 3):
            if m[i, i] > m[k, k]:
                k = i
        for i in range(3):
            col[i] = 0.5 * (m[i, k] + m[k, i]) - (cos if i == k else 0.0)
        norm = math.sqrt(col[0] * col[0] + col[1] * col[1] + col[2] * col[2])
        sign = 1.0 if col[0] * vx + col[1] * vy + col[2] * vz >= 0.0 else -1.0
        ex, ey, ez = (sign * theta / norm * col[0], sign * theta / norm * col[1],
                      sign * theta / norm * col[2])
    res[row], res[row + 1], res[row + 2] = ex, ey, ez
    if not with_jacobian:
        return
    if theta < 1e-4:
        beta = 1.0 / 12.0 + theta * theta / 720.0
    else:
        half_sin, half_cos = exact_math.sincos(0.5 * theta)
        beta = 1.0 / (theta * theta) - half_cos / (2.0 * theta * half_sin)
    # Jl^-1 = I - [e]x / 2 + beta [e]x^2, [e]x^2 = e e^T - theta^2 I
    t2 = ex * ex + ey * ey + ez * ez
    e = (ex, ey, ez)
    for i in range(3):
        for j in range(3):
            inv[i, j] = beta * e[i] * e[j] + ((1.0 - beta * t2) if i == j else 0.0)
    inv[0, 1] += 0.5 * ez
    inv[0, 2] -= 0.5 * ey
    inv[1, 0] -= 0.5 * ez
    inv[1, 2] += 0.5 * ex
    inv[2, 0] += 0.5 * ey
    inv[2, 1] -= 0.5 * ex
    for i in range(3):
        _combined_rows(inv[i], jw, jac[row + i])


@njit(**_JIT)
def _axial_rows(b, a, complement, jw, res, jac, row, de, with_jacobian):
    """
    Fill the 2 rows of an axial rotation: a link axis b along a target axis a [rad].

    Both axes are unit vectors in the reference frame.

    e = theta / s (a x b), s = |a x b| = sin(theta), cos = a . b, theta = atan2(s, cos):
    a rotation vector orthogonal to a whose length is the angle between the axes; the
    rows are C e, C (2, 3) orthogonal to a, so |r| = theta. Exact Jacobian, with w the
    link's angular velocity in the reference frame:
        db = w x b,  dc = a x db,  dcos = a . db,  ds = c . dc / s,
        dtheta = cos ds - s dcos,  f = theta / s,  df = (dtheta s - theta ds) / s^2,
        de = f dc + c df.
    Near alignment (s < 1e-6) de = dc; for exactly opposite axes (no derivative: any
    turn works) e is pi along C[0] and the Jacobian is C w. de (3,) is a work array.
    """
    cx, cy, cz = a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]
    s = math.sqrt(cx * cx + cy * cy + cz * cz)
    cos = a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
    theta = exact_math.atan2(s, cos)
    opposite = s < 1e-9 and cos < 0.0
    if opposite:
        for i in range(2):
            res[row + i] = math.pi if i == 0 else 0.0
            if with_jacobian:
                _combined_rows(complement[i], jw, jac[row + i])
        return
    aligned = s < 1e-6
    f = 1.0 if aligned else theta / s
    e = (cx * f, cy * f, cz * f)
    for i in range(2):
        res[row + i] = complement[i, 0] * e[0] + complement[i, 1] * e[1] + complement[i, 2] * e[2]
    if not with_jacobian:
        return
    n = jw.shape[1]
    for col in range(n):
        wx, wy, wz = jw[0, col], jw[1, col], jw[2, col]
        dbx, dby, dbz = wy * b[2] - wz * b[1], wz * b[0] - wx * b[2], wx * b[1] - wy * b[0]
        dcx, dcy, dcz = a[1] * dbz - a[2] * dby, a[2] * dbx - a[0] * dbz, a[0] * dby - a[1] * dbx
        if aligned:
            de[0], de[1], de[2] = dcx, dcy, dcz
        else:
            dcos = a[0] * dbx + a[1] * dby + a[2] * dbz
            ds = (cx * dcx + cy * dcy + cz * dcz) / s
            dtheta = cos * ds - s * dcos
            df = (dtheta * s - theta * ds) / (s * s)
            de[0], de[1], de[2] = f * dcx + cx * df, f * dcy + cy * df, f * dcz + cz * df
        for i in range(2):
            jac[row + i, col] = complement[i, 0] * de[0] + complement[i, 1] * de[1] \
                + complement[i, 2] * de[2]


# ---------------------------------------------------------------- residual and Jacobian
@njit(**_JIT)
def work_arrays(n_rows, n_frames):
    """
    Return the work arrays of ``residual_rows`` for m = n_rows residual rows, S = n_frames.

    Allocated once per kernel call, not per evaluation: an allocation costs about as much
    as the arithmetic of a small evaluation.
    """
    return (np.empty((n_frames, 4, 4)), np.zeros((n_rows, n_frames)), np.empty((4, 4)),
            np.empty((4, 4)), np.empty((4, 4)), np.empty((3, n_frames)),
            np.empty((3, n_frames)), np.empty((3, n_frames)), np.empty((3, n_frames)),
            np.empty((3, n_frames)), np.empty((4, 3)), np.empty((3, 3)), np.empty((3, 3)),
            np.empty((3, 3)))


@njit(**_JIT)
def residual_rows(x, a_map, c, basis, parent, prismatic, ints, offsets, vectors, rotations,
                  ancestors, local_points, target_points, work, res, jac, with_jacobian):
    """
    Residual ``res`` (m,) and Jacobian ``jac`` (m, k) at active values x (k,).

    ``work`` comes from ``work_arrays``. The Jacobian is first built over frames
    (m, S), then mapped to the active values: J = J_frames @ A.
    """
    world, frame_jac, local, link, ref, jv, jv_ref, jw, jw_ref, tmp, v3, rel_rot, m33, inv33 \
        = work
    pw, d, diff, b = v3[0], v3[1], v3[2], v3[3]
    frame_transforms(x, a_map, c, basis, parent, world, local)
    n_frames = parent.shape[0]
    for o in range(ints.shape[0]):
        link_slot, ref_slot, pos_kind, rot_kind = ints[o, 0], ints[o, 1], ints[o, 2], ints[o, 3]
        first, count, row = ints[o, 4], ints[o, 5], ints[o, 6]
        _pose(world, link_slot, offsets[o, 0], link)
        has_ref = ref_slot != NO_REF
        if has_ref:
            _pose(world, ref_slot, offsets[o, 1], ref)
        # rotation of the link in the reference frame
        for i in range(3):
            for j in range(3):
                rel_rot[i, j] = (ref[0, i] * link[0, j] + ref[1, i] * link[1, j]
                                 + ref[2, i] * link[2, j]) if has_ref else link[i, j]
        if with_jacobian and rot_kind != ROT_NONE:
            _angular_velocities(world, prismatic, ancestors[o, 0], jw)
            if has_ref:
                _angular_velocities(world, prismatic, ancestors[o, 1], jw_ref)
                _relative_to(ref, jw, jw_ref, tmp)
        for p in range(first, first + count if pos_kind != POS_NONE else first):
            lp = local_points[p]
            for i in range(3):
                pw[i] = link[i, 0] * lp[0] + link[i, 1] * lp[1] + link[i, 2] * lp[2] + link[i, 3]
            if has_ref:      # p in the reference frame: R_ref^T (p_w - o_ref)
                for i in range(3):
                    d[i] = pw[i] - ref[i, 3]
                for i in range(3):
                    diff[i] = ref[0, i] * d[0] + ref[1, i] * d[1] + ref[2, i] * d[2] \
                        - target_points[p, i]
            else:
                for i in range(3):
                    diff[i] = pw[i] - target_points[p, i]
            if with_jacobian:
                _point_velocities(world, prismatic, ancestors[o, 0], pw, jv)
                if has_ref:     # minus the velocity of p carried by the reference link
                    _point_velocities(world, prismatic, ancestors[o, 1], pw, jv_ref)
                    _relative_to(ref, jv, jv_ref, tmp)
            if pos_kind == POS_FIXED:
                _fixed_point_rows(diff, jv, res, frame_jac, row, with_jacobian)
                row += 3
            elif pos_kind == POS_PLANAR:
                _planar_rows(diff, jv, vectors[o, 0], res, frame_jac, row, with_jacobian)
                row += 1
            else:
                _linear_rows(diff, jv, vectors[o, 3:5], res, frame_jac, row, with_jacobian)
                row += 2
        if rot_kind == ROT_FIXED:
            _fixed_rotation_rows(rel_rot, rotations[o], jw, res, frame_jac, row, m33, inv33, d,
                                 with_jacobian)
        elif rot_kind == ROT_AXIAL:
            la = vectors[o, 1]
            for i in range(3):
                b[i] = rel_rot[i, 0] * la[0] + rel_rot[i, 1] * la[1] + rel_rot[i, 2] * la[2]
            _axial_rows(b, vectors[o, 2], vectors[o, 5:7], jw, res, frame_jac, row, d,
                        with_jacobian)
    if with_jacobian:
        m, k = res.shape[0], x.shape[0]
        for r in range(m):
            for j in range(k):
                acc = 0.0
                for f in range(n_frames):
                    acc += frame_jac[r, f] * a_map[f, j]
                jac[r, j] = acc


@njit(**_JIT)
def evaluate_batch(xs, a_map, c, basis, parent, prismatic, ints, offsets, vectors, rotations,
                   ancestors, local_points, target_points, res, jac, with_jacobian):
    """``residual_rows`` for each row of xs (B, k) into res (B, m) and jac (B, m, k)."""
    work = work_arrays(res.shape[1], parent.shape[0])
    for b in range(xs.shape[0]):
        residual_rows(xs[b], a_map, c, basis, parent, prismatic, ints, offsets, vectors,
                      rotations, ancestors, local_points, target_points, work, res[b],
                      jac[b], with_jacobian)


@njit(**_JIT)
def _block_squares(res, blocks, b):
    """Return the sum of squares of block b (``blocks`` (B, 2): first row, end) of res (m,)."""
    acc = 0.0
    for r in range(blocks[b, 0], blocks[b, 1]):
        acc += res[r] * res[r]
    return acc


@njit(**_JIT)
def max_block_error(res, blocks):
    """
    Largest Euclidean norm of the residual's blocks (each point, each rotation) [m or rad].

    NaN when a block holds a NaN: no such residual passes a tolerance test.
    """
    worst = 0.0
    for b in range(blocks.shape[0]):
        acc = _block_squares(res, blocks, b)
        if acc != acc:
            return math.nan
        if acc > worst:
            worst = acc
    return math.sqrt(worst)


@njit(**_JIT)
def max_errors(xs, a_map, c, basis, parent, prismatic, ints, offsets, vectors, rotations,
               ancestors, local_points, target_points, blocks, out):
    """
    Write the largest constraint error of each row of xs (B, k) into out (B,) [m or rad].

    ``max_block_error`` of its residual (``residual_rows``), NaN for a residual with a NaN.
    """
    m = blocks[blocks.shape[0] - 1, 1]         # every objective has a block
    res, jac = np.empty(m), np.empty((m, 0))
    work = work_arrays(m, parent.shape[0])
    for b in range(xs.shape[0]):
        residual_rows(xs[b], a_map, c, basis, parent, prismatic, ints, offsets, vectors,
                      rotations, ancestors, local_points, target_points, work, res, jac, False)
        out[b] = max_block_error(res, blocks)


@njit(**_JIT)
def objective_errors(res, blocks, objective_blocks, out):
    """
    Write each objective's (position error, rotation error) (O, 2) from a residual (m,).

    objective_blocks (O, 3): an objective's point blocks [first, end) and its rotation
    block (-1: none) among ``blocks`` (B, 2). A block's error is its Euclidean norm (the
    sums ``max_block_error`` takes); the position error is the largest of the point
    blocks'; 0 for what the objective leaves free [m or rad].
    """
    for o in range(objective_blocks.shape[0]):
        first, end, rotation = objective_blocks[o, 0], objective_blocks[o, 1], \
            objective_blocks[o, 2]
        out[o, 0] = out[o, 1] = 0.0
        for b in range(first, end):
            norm = math.sqrt(_block_squares(res, blocks, b))
            if b == first or norm > out[o, 0]:
                out[o, 0] = norm
        if rotation >= 0:
            out[o, 1] = math.sqrt(_block_squares(res, blocks, rotation))


# ---------------------------------------------------------------- a solve's set-up
@njit(**_JIT)
def clip_active(q, idx, lower, upper):
    """Clip the active values q[idx] of a configuration q (n,) into [lower, upper] (k,)."""
    for j in range(idx.shape[0]):
        q[idx[j]] = min(max(q[idx[j]], lower[j]), upper[j])


@njit(**_JIT)
def clip_rows(x, lower, upper):
    """Clip each row of x (R, k) into [lower, upper] (k,), in place."""
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            x[i, j] = min(max(x[i, j], lower[j]), upper[j])


# ---------------------------------------------------------------- a solve's answer
@njit(**_JIT)
def nearest_rows(x, rows, reference, order):
    """
    Write the indices of the marked ``rows`` (R,) of x (R, k) into ``order``, nearest first.

    Nearest: the squared distance to ``reference`` (k,); ties keep the rows' order.
    Returns how many.
    """
    count = 0
    distance = np.empty(x.shape[0])
    for i in range(x.shape[0]):
        if not rows[i]:
            continue
        acc = 0.0
        for j in range(x.shape[1]):
            d = x[i, j] - reference[j]
            acc += d * d
        p = count               # insertion sort: stable, and there are a few rows
        while p > 0 and distance[p - 1] > acc:
            distance[p], order[p] = distance[p - 1], order[p - 1]
            p -= 1
        distance[p], order[p] = acc, i
        count += 1
    return count


@njit(**_JIT)
def _turned_near(value, reference, lower, upper):
    """Return the angle a whole number of turns from value nearest reference, inside the limits."""
    best = value
    if abs(value - reference) <= math.pi:
        return best                          # already the nearest equivalent
    turns = round((reference - value) / TWO_PI)
    for k in (turns, turns - 1, turns + 1):
        shifted = value + k * TWO_PI
        if lower <= shifted <= upper and abs(shifted - reference) < abs(best - reference):
            best = shifted
    return best


@njit(**_JIT)
def answer(x, seed, idx, lower, upper, is_angle, tolerance, q, at_limit):
    """
    Write a solve's answer q (n,) and which of its active values lie at a limit (k,).

    q is the seed (n,) with the active dofs idx (k,) set to x (k,), each angle
    (``is_angle``) turned a whole number of turns toward the seed's value while it stays
    inside [lower, upper] (``_turned_near``: a continuous joint ends within pi of the
    seed, a revolute joint wider than a turn, as UR arms', at the equivalent value
    nearest it); at_limit marks the values within ``tolerance`` of a finite bound.
    Returns how many are marked.
    """
    q[:] = seed
    marked = 0
    for i in range(idx.shape[0]):
        value = _turned_near(x[i], seed[idx[i]], lower[i], upper[i]) if is_angle[i] else x[i]
        q[idx[i]] = value
        at_limit[i] = abs(value - lower[i]) <= tolerance or abs(value - upper[i]) <= tolerance
        marked += at_limit[i]
    return marked


# ---------------------------------------------------------------- closed-form starts
@njit(**_JIT)
def largest_difference(a, b):
    """Return the largest |a - b| of two poses (4, 4): how far a closed-form answer misses."""
    worst = 0.0
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            worst = max(worst, abs(a[i, j] - b[i, j]))
    return worst


@njit(**_JIT)
def nearest_turns(solutions, near, lower, upper, out):
    """
    Write the solutions (S, k) a whole number of turns nearest ``near`` (k,) into out.

    Each angle moves by whole turns to the value nearest ``near``'s, then by one turn back
    inside [lower, upper] where that left them; a solution with an angle still outside is
    dropped. The rest are written to out (S, k) by their largest distance to ``near``,
    ties in the given order; returns how many.
    """
    two_pi = 2.0 * math.pi
    count = 0
    distance = np.empty(solutions.shape[0])
    for s in range(solutions.shape[0]):
        inside, far = True, 0.0
        for j in range(solutions.shape[1]):
            v = solutions[s, j]
            v += two_pi * round((near[j] - v) / two_pi)
            if v < lower[j]:
                v += two_pi
            elif v > upper[j]:
                v -= two_pi
            if not lower[j] <= v <= upper[j]:
                inside = False
                break
            out[count, j] = v
            far = max(far, abs(v - near[j]))
        if not inside:
            continue
        i = count               # insertion sort: stable, and S is at most 16
        while i > 0 and distance[i - 1] > far:
            distance[i] = distance[i - 1]
            for j in range(solutions.shape[1]):
                out[i, j], out[i - 1, j] = out[i - 1, j], out[i, j]
            i -= 1
        distance[i] = far
        count += 1
    return count


@njit(**_JIT)
def _cross(a, b, out):
    out[0] = a[1] * b[2] - a[2] * b[1]
    out[1] = a[2] * b[0] - a[0] * b[2]
    out[2] = a[0] * b[1] - a[1] * b[0]


@njit(**_JIT)
def _dot3(a, b):
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


@njit(**_JIT)
def _determinant(m):
    """
    Return the determinant of a square matrix m, overwritten (LU, partial pivoting).

    In loops of its own, not numpy's (LAPACK), so that its bits do not depend on the CPU.
    """
    n, det = m.shape[0], 1.0
    for j in range(n):
        pivot = j
        for i in range(j + 1, n):
            if abs(m[i, j]) > abs(m[pivot, j]):
                pivot = i
        if m[pivot, j] == 0.0:
            return 0.0
        if pivot != j:
            for k in range(n):
                m[j, k], m[pivot, k] = m[pivot, k], m[j, k]
            det = -det
        det *= m[j, j]
        for i in range(j + 1, n):
            f = m[i, j] / m[j, j]
            for k in range(j + 1, n):
                m[i, k] -= f * m[j, k]
    return det


@njit(**_JIT)
def branch_factors(world, frames, spherical_wrist, reach, signed, scaled):
    """
    Write the singularity factors of a 6R chain at B configurations (``ClosedForm.branches``).

    world (S, B, 4, 4): ``LinkKinematics.transforms``; frames (6,): the chain's slots in it
    (column 2 the joint axis z_i, column 3 its origin o_i); spherical_wrist: p is the point
    of axis 5 nearest axis 4 (else o4); reach [m]. Writes per configuration
    signed (B, 3): shoulder, elbow, wrist, where elbow = ((o3 - o2) x (p - o3)) . z2,
    wrist = (z4 x z6) . z5 and shoulder = det J * sign(elbow * wrist), J (6, 6) the
    screws (o_i x z_i, z_i); and scaled (B, 3): their unitless sizes, |det J| / |elbow
    wrist| / reach (inf when those vanish), |elbow| / (|o3 - o2| |p - o3|), |wrist|.
    """
    z, o = np.empty((6, 3)), np.empty((6, 3))
    p, a, c, t = np.empty(3), np.empty(3), np.empty(3), np.empty(3)
    screws = np.empty((6, 6))
    for b in range(world.shape[1]):
        for i in range(6):
            for r in range(3):
                z[i, r] = world[frames[i], b, r, 2]
                o[i, r] = world[frames[i], b, r, 3]
        if spherical_wrist:     # nearest point of line (o4, z4) to line (o3, z3)
            w = o[4] - o[3]
            aa, ab, bb = _dot3(z[4], z[4]), _dot3(z[4], z[3]), _dot3(z[3], z[3])
            d, e = _dot3(z[4], w), _dot3(z[3], w)
            den = aa * bb - ab * ab
            s = (ab * e - bb * d) / den if abs(den) > 1e-12 else 0.0
            for r in range(3):
                p[r] = o[4, r] + s * z[4, r]
        else:
            p[:] = o[3]
        for r in range(3):
            a[r], c[r] = o[2, r] - o[1, r], p[r] - o[2, r]
        _cross(a, c, t)
        elbow = _dot3(t, z[1])
        _cross(z[3], z[5], t)
        wrist = _dot3(t, z[4])
        for i in range(6):
            _cross(o[i], z[i], t)
            for r in range(3):
                screws[i, r], screws[i, 3 + r] = t[r], z[i, r]
        det = _determinant(screws)
        others = abs(elbow * wrist)
        signed[b, 0] = det * (1.0 if elbow * wrist > 0 else -1.0 if elbow * wrist < 0 else 0.0)
        signed[b, 1], signed[b, 2] = elbow, wrist
        scaled[b, 0] = abs(det) / others / reach if others > 0 else np.inf
        lengths = math.sqrt(_dot3(a, a) * _dot3(c, c))
        scaled[b, 1] = abs(elbow) / lengths if lengths > 0 else abs(elbow)
        scaled[b, 2] = abs(wrist)


# ---------------------------------------------------------------- the damped descent
@njit(**_JIT)
def _damped_step(jac, res, lam, floor, x, bias, has_bias, free, step, hess, rhs, pull, work):
    """
    Levenberg-Marquardt step: (J^T J + lambda I) s = -J^T r, into ``step`` (k,).

    Only the values marked ``free`` move (the others' rows and columns are left out, and
    their step is 0). With a bias b the step adds the pull u = 0.2 (b - x) projected onto
    the null space of J: u - (J^T J + floor I)^-1 J^T J u, with the descent's smallest
    damping ``floor`` rather than lambda, so the pull changes the residual only to second
    order whatever lambda. Solved by Cholesky; False when a matrix is numerically not
    positive definite. hess, work (k, k), rhs, pull (k,): scratch.
    """
    m, k = jac.shape
    for i in range(k):
        for j in range(i + 1):
            acc = 0.0
            if free[i] and free[j]:
                for r in range(m):
                    acc += jac[r, i] * jac[r, j]
            hess[i, j] = acc
            hess[j, i] = acc
        acc = 0.0
        if free[i]:
            for r in range(m):
                acc += jac[r, i] * res[r]
        rhs[i] = -acc
    for i in range(k):
        step[i] = 0.2 * (bias[i] - x[i]) if has_bias and free[i] else 0.0
    if has_bias:
        for i in range(k):
            acc = 0.0
            for j in range(k):
                acc += hess[i, j] * step[j]
                work[i, j] = hess[i, j]
            pull[i] = acc
            work[i, i] += floor if free[i] else 1.0
        if not _cholesky_solve(work, pull):
            return False
        for i in range(k):
            step[i] -= pull[i]
    for i in range(k):
        hess[i, i] += lam if free[i] else 1.0
    if not _cholesky_solve(hess, rhs):
        return False
    for i in range(k):
        step[i] += rhs[i]
    return True


@njit(**_JIT)
def _cholesky_solve(a, b) -> bool:
    """
    Solve a x = b in place (x into b) for a symmetric positive definite a (k, k).

    a is overwritten by its Cholesky factor L (a = L L^T, in the lower triangle); False
    when a is numerically not positive definite.
    """
    k = b.shape[0]
    for j in range(k):
        acc = a[j, j]
        for p in range(j):
            acc -= a[j, p] * a[j, p]
        if not acc > 0.0:
            return False
        ljj = math.sqrt(acc)
        a[j, j] = ljj
        for i in range(j + 1, k):
            acc = a[i, j]
            for p in range(j):
                acc -= a[i, p] * a[j, p]
            a[i, j] = acc / ljj
    for i in range(k):        # L y = b
        acc = b[i]
        for p in range(i):
            acc -= a[i, p] * b[p]
        b[i] = acc / a[i, i]
    for i in range(k - 1, -1, -1):   # L^T x = y
        acc = b[i]
        for p in range(i + 1, k):
            acc -= a[p, i] * b[p]
        b[i] = acc / a[i, i]
    return True


@njit(**_JIT)
def _damp_by_gain(lam, cost, trial_cost, res, jac, x, trial, floor):
    """
    Update a row's damping (lambda, nu) (2,) after its trial was accepted.

    The gain ratio rho is the decrease of the cost |r|^2 over the decrease the linear model
    r + J d predicts for the step d = trial - x. lambda is multiplied by
    max(1/10, min(1, 1 - (2 rho - 1)^3)) (at least ``floor``): a step the model predicted
    well (rho near 1) divides it by 10, one it predicted half right or worse keeps it.
    nu, the factor of the next rejection, returns to 2. (Madsen, Nielsen and Tingleff,
    Methods for non-linear least squares problems, 2004, whose factor lies in [1/3, 2]:
    1/10 keeps the fast start of well-predicted descents.) Near a singular
    configuration, where the linear model holds for short steps only, lambda then
    settles where the steps are accepted, instead of alternating between a tenfold too
    small and a tenfold too large value. A bias's pull lies in the null space of J
    (``_damped_step``), so the model predicts a biased step as well as any.
    """
    lam[1] = 2.0
    predicted = cost
    for r in range(res.shape[0]):
        acc = res[r]
        for j in range(x.shape[0]):
            acc += jac[r, j] * (trial[j] - x[j])
        predicted -= acc * acc
    rho = (cost - trial_cost) / predicted if predicted > 0.0 else 0.0
    factor = 1.0 - (2.0 * rho - 1.0) ** 3
    lam[0] = max(lam[0] * max(0.1, min(1.0, factor)), floor)


@njit(**_JIT)
def _damp_more(lam):
    """Raise a row's damping (lambda, nu) (2,) after a rejected step: lambda *= nu, nu *= 2."""
    lam[0] = min(lam[0] * lam[1], 100.0 * MAX_DAMPING)
    lam[1] = min(2.0 * lam[1], 1e6)


@njit(**_JIT)
def _start_row(i, start, x, res, jac, cost, lam, born, checkpoint, total, damping, blocks,
               tolerance, a_map, c, basis, parent, prismatic, ints, offsets, vectors,
               rotations, ancestors, local_points, target_points, work):
    """
    Put row i at ``start`` (k,), evaluate it; True when it already meets the tolerance.

    damping (2,): the damping a descent starts with and its floor. A negative floor is
    set from this row (the solve's first, its seed): the damping never drops below 1e-12
    of the scale of J^T J there, so that J^T J + lambda I stays invertible on badly
    scaled robots (links kilometres long).
    """
    x[i, :] = start
    residual_rows(x[i], a_map, c, basis, parent, prismatic, ints, offsets, vectors, rotations,
                  ancestors, local_points, target_points, work, res[i], jac[i], True)
    acc = 0.0
    for r in range(res.shape[1]):
        acc += res[i, r] * res[i, r]
    if damping[1] < 0.0:
        scale = 0.0
        for r in range(jac.shape[1]):
            for j in range(jac.shape[2]):
                scale += jac[i, r, j] * jac[i, r, j]
        damping[1] = max(1e-9, 1e-12 * scale)
        damping[0] = max(damping[0], damping[1])
    cost[i], born[i], checkpoint[i] = acc, total, acc
    lam[i, 0], lam[i, 1] = damping[0], 2.0
    return max_block_error(res[i], blocks) <= tolerance


@njit(**_JIT)
def start_descent(cost, lam, born, done, converged, best_cost, counters, damping,
                  initial_damping):
    """
    Put a descent's state (``descend``'s arrays of those names) back to its beginning.

    Every row waits for a start (born -1, cost inf, lam 0), none retired or converged; no
    best row yet; the counters at zero iterations before the seed's start (restarts -1,
    the iteration checked -1); damping (2,): ``initial_damping`` and a floor still to be
    set from the seed (-1).
    """
    for i in range(cost.shape[0]):
        cost[i] = np.inf
        lam[i, 0] = 0.0
        lam[i, 1] = 0.0
        born[i] = -1
        done[i] = False
        converged[i] = False
    best_cost[0] = np.inf
    counters[0], counters[1], counters[2], counters[3], counters[4] = 0, -1, 0, 0, -1
    damping[0], damping[1] = initial_damping, -1.0


@njit(**_JIT)
def _stalled(i, total, born, lam, cost, checkpoint, max_iterations, window, may_restart):
    """
    Tell whether row i's descent has ended at iteration ``total`` (updates its checkpoint).

    Ended: ``max_iterations`` since it started, damping beyond MAX_DAMPING, or (only
    while restarts are left) no halving of the cost within ``window`` iterations.
    """
    age = total - born[i]
    periodic = total > 0 and total % window == 0
    if age >= max_iterations or (periodic and lam[i, 0] > MAX_DAMPING):
        return True
    if periodic and may_restart and age >= window:
        ended = cost[i] > 0.5 * checkpoint[i]
        checkpoint[i] = cost[i]
        return ended
    return False


@njit(**_JIT)
def descend(x, res, jac, cost, lam, born, checkpoint, done, converged, best_x, best_res,
            best_cost, counters, starts, iterations, lower, upper, turns, bias, has_bias,
            tolerance, max_iterations, window, restarts_allowed, damping, blocks,
            a_map, c, basis, parent, prismatic, ints, offsets, vectors, rotations,
            ancestors, local_points, target_points):
    """
    Run up to ``iterations`` damped least-squares iterations, restarting ended rows.

    State per row (R rows, k values, m residual rows), updated in place: x (R, k), its
    residual res (R, m), Jacobian jac (R, m, k), cost = |r|^2 (R,), damping lam (R, 2)
    (lambda and the factor of its next rise), the iteration it (re)started at born (R,;
    -1: waits for a start), its cost at its last progress check checkpoint (R,), done
    (R,): retired. A trial x + step, projected into [lower, upper], replaces a row's
    values only if it lowers the cost (then lambda follows the gain ratio,
    ``_damp_by_gain``, else it rises, ``_damp_more``, within [floor, 100 MAX_DAMPING];
    damping (2,) is the starting damping and the floor, see ``_start_row``): the cost of
    a row never increases. A row whose descent ended (``_stalled``) is compared with the best ended
    row so far (best_cost (1,), best_x (k,), best_res (m,)) and waits for a start: the
    next row of ``starts`` (N, k) while fewer than ``restarts_allowed`` were taken (the
    first start, the seed, is not a restart), else it retires; rows from ``FIRST_ROWS``
    on take their first start at iteration ``window``. An accepted value at a
    bound that is a whole turn from another inside [lower, upper] (``turns`` (k,): angles
    that turn their own frame only, one for one) moves that turn back: the same pose, off
    the bound, so a joint wider than a turn (UR arms' +-2 pi) never stalls a descent at
    its limit.

    counters (5,) int64: iterations so far, restarts taken (-1 before the seed's start),
    the next row of ``starts``, 1 once row 0's first descent ended, the iteration whose
    end checks ran.

    Returns CONVERGED (``converged`` marks the rows within ``tolerance``; their values
    in x, res, jac), NEED_STARTS (``starts`` is used up: pass new ones with counters[2]
    = 0), EXHAUSTED (every row retired) or RAN (the iterations ran out). The state after
    a return is the state a longer call would have had at that point, so how the
    iterations are split into calls never changes the answer.
    """
    rows, k = x.shape
    m = res.shape[1]
    xt, rt, jt = np.empty(k), np.empty(m), np.empty((m, k))
    step, hess, rhs = np.empty(k), np.empty((k, k)), np.empty(k)
    pull, scratch = np.empty(k), np.empty((k, k))
    free = np.ones(k, dtype=np.bool_)
    work = work_arrays(m, parent.shape[0])
    ran = 0
    while True:
        total = counters[0]
        if counters[4] != total:        # end the descents that cannot progress
            counters[4] = total
            may_restart = counters[1] < restarts_allowed
            for i in range(rows):
                if done[i] or born[i] < 0 or not _stalled(
                        i, total, born, lam, cost, checkpoint, max_iterations, window,
                        may_restart):
                    continue
                if i == 0:
                    counters[3] = 1
                if cost[i] < best_cost[0]:
                    best_cost[0] = cost[i]
                    best_x[:] = x[i]
                    best_res[:] = res[i]
                born[i] = -1
        any_converged, all_done = False, True
        for i in range(rows):
            converged[i] = False
            if not done[i] and born[i] < 0:
                if counters[1] >= restarts_allowed:
                    done[i] = True
                    continue
                if i >= FIRST_ROWS and total < window:     # joins after the first rows
                    all_done = False
                    continue
                if counters[2] >= starts.shape[0]:      # the rows started so far first
                    return CONVERGED if any_converged else NEED_STARTS
                converged[i] = _start_row(
                    i, starts[counters[2]], x, res, jac, cost, lam, born, checkpoint, total,
                    damping, blocks, tolerance, a_map, c, basis, parent, prismatic, ints,
                    offsets, vectors, rotations, ancestors, local_points, target_points, work)
                counters[1] += 1
                counters[2] += 1
                any_converged = any_converged or converged[i]
            all_done = all_done and done[i]
        if any_converged:
            return CONVERGED
        if all_done:
            return EXHAUSTED
        if ran == iterations:
            return RAN
        for i in range(rows):
            if done[i] or born[i] < 0:     # retired, or not joined yet
                continue
            # Values at a bound whose step points out of the box are held there and the
            # step is taken again for the others: a joint resting at a limit does not
            # stall the descent (bounded variables, an active set grown per step).
            for j in range(k):
                free[j] = True
            solved = True
            for _attempt in range(k):
                solved = _damped_step(jac[i], res[i], lam[i, 0], damping[1], x[i], bias,
                                      has_bias, free, step, hess, rhs, pull, scratch)
                if not solved:
                    break
                blocked = False
                for j in range(k):
                    if free[j] and (x[i, j] <= lower[j] and step[j] < 0.0
                                    or x[i, j] >= upper[j] and step[j] > 0.0):
                        free[j] = False
                        blocked = True
                if not blocked:
                    break
            if not solved:
                _damp_more(lam[i])
                continue
            for j in range(k):
                xt[j] = min(max(x[i, j] + step[j], lower[j]), upper[j])
            residual_rows(xt, a_map, c, basis, parent, prismatic, ints, offsets, vectors,
                          rotations, ancestors, local_points, target_points, work, rt, jt,
                          True)
            trial_cost = 0.0
            for r in range(m):
                trial_cost += rt[r] * rt[r]
            ok = trial_cost == trial_cost        # not NaN
            if ok and max_block_error(rt, blocks) <= tolerance:
                converged[i] = True
                any_converged = True
            if converged[i] or (ok and trial_cost < cost[i]):
                _damp_by_gain(lam[i], cost[i], trial_cost, res[i], jac[i], x[i], xt,
                              damping[1])
                for j in range(k):
                    if turns[j] and xt[j] >= upper[j] and xt[j] - TWO_PI >= lower[j]:
                        xt[j] -= TWO_PI
                    elif turns[j] and xt[j] <= lower[j] and xt[j] + TWO_PI <= upper[j]:
                        xt[j] += TWO_PI
                x[i, :] = xt
                res[i, :] = rt
                jac[i, :, :] = jt
                cost[i] = trial_cost
            else:
                _damp_more(lam[i])
        counters[0] = total + 1
        ran += 1
        if any_converged:
            return CONVERGED
