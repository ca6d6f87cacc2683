"""
IK objectives with Klampt's IKObjective semantics, and their residuals and Jacobians.

An objective asks that points fixed on ``link`` (local coordinates, link frame, metres)
match target points, and that an axis or the orientation of ``link`` match a target,
with every target expressed in the frame of ``ref_link`` (None: the root link).

Residual rows per objective, position rows first (one block per point), then rotation:
  position: none 0 | planar 1 per point | linear 2 per point | fixed 3 per point  [m]
  rotation: none 0 | axial 2 | fixed 3                                             [rad]
Named combinations: point (fixed/none, 3), pose (fixed/fixed, 6), hinge (fixed/axial, 5),
surface (planar/axial, 3).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from itertools import accumulate
import math
from typing import Optional, Sequence

import numpy as np

from . import kernel
from .bounded_cache import BoundedCache
from .errors import InvalidObjectiveError, MAX_MAGNITUDE, UnknownFrameError, within_magnitude
from .model import LinkKinematics, RobotModel
from .transforms import norm, orthonormal_complement, product, transform_points

POSITION_TYPES = ('none', 'planar', 'linear', 'fixed')
ROTATION_TYPES = ('none', 'axial', 'fixed')
_POSITION_ROWS = {'none': 0, 'planar': 1, 'linear': 2, 'fixed': 3}
_ROTATION_ROWS = {'none': 0, 'axial': 2, 'fixed': 3}
# Solver set-ups kept per objective layout (sets of active dofs seen with it; each keeps
# solver.PLANS_PER_CHAIN limits).
PLANS_PER_LAYOUT = 16


def _vec3(value, what: str) -> np.ndarray:
    v = np.array(value if value is not None else (), dtype=float)
    if v.shape != (3,) or not all(map(math.isfinite, v.tolist())):
        raise InvalidObjectiveError(f'{what} must be 3 finite numbers, got {v.tolist()}')
    return v


def _unit(value, what: str) -> np.ndarray:
    v = _vec3(value, what)
    scale = float(np.abs(v).max())      # scaled first: a huge vector must not overflow
    if scale < 1e-9:
        raise InvalidObjectiveError(f'{what} must be a non-zero vector, got {v.tolist()}')
    v = v / scale
    return v / norm(v)


def _points(value, what: str) -> np.ndarray:
    """Points as a (P, 3) array [m]; (0, 3) when empty."""
    a = np.asarray(value if value is not None else (), dtype=float)
    if a.size % 3:
        raise InvalidObjectiveError(f'{what} must be 3-vectors, got {a.tolist()}')
    return a.reshape(-1, 3)


def _bounded(points: np.ndarray) -> bool:
    """Tell whether every entry is finite and within +-MAX_MAGNITUDE (False for NaN)."""
    return within_magnitude(points.ravel().tolist())


def _rotation(value, what: str) -> np.ndarray:
    """Check and return a proper rotation matrix (3, 3), to 1e-6."""
    r = np.array(value if value is not None else np.nan, dtype=float)
    if r.shape == (3, 3):
        (a0, a1, a2), (b0, b1, b2), (c0, c1, c2) = r.tolist()
        # the rows are orthonormal (R R^T = I) to 1e-6; NaN or inf makes the test False
        aa, bb, cc = a0 * a0 + a1 * a1 + a2 * a2 - 1.0, b0 * b0 + b1 * b1 + b2 * b2 - 1.0, \
            c0 * c0 + c1 * c1 + c2 * c2 - 1.0
        ab, ac, bc = a0 * b0 + a1 * b1 + a2 * b2, a0 * c0 + a1 * c1 + a2 * c2, \
            b0 * c0 + b1 * c1 + b2 * c2
        if aa * aa + bb * bb + cc * cc + 2.0 * (ab * ab + ac * ac + bc * bc) <= 1e-12:
            det = a0 * (b1 * c2 - b2 * c1) - a1 * (b0 * c2 - b2 * c0) + a2 * (b0 * c1 - b1 * c0)
            if det > 0:
                return r
        if np.isfinite(r).all():
            raise InvalidObjectiveError(f'{what} is not a rotation matrix')
    raise InvalidObjectiveError(f'{what} must be a finite 3x3 matrix')


@dataclass(frozen=True)
class IKObjective:
    """
    One objective on one link. Use the constructors below for the named cases.

    local_points (P, 3): points on ``link`` in the link frame [m].
    target_points (P, 3): their targets in the ``ref_link`` frame [m] (for planar: a
    point on the plane; for linear: a point on the line).
    direction (3,): plane normal (planar) or line direction (linear), ref frame.
    local_axis / target_axis (3,): axial rotation, link frame / ref frame.
    target_rotation (3, 3): fixed rotation of the link frame in the ref frame.
    """

    link: str
    ref_link: Optional[str] = None
    position: str = 'fixed'
    local_points: np.ndarray = field(default_factory=lambda: np.zeros((1, 3)))
    target_points: np.ndarray = field(default_factory=lambda: np.zeros((1, 3)))
    direction: Optional[np.ndarray] = None
    rotation: str = 'none'
    local_axis: Optional[np.ndarray] = None
    target_axis: Optional[np.ndarray] = None
    target_rotation: Optional[np.ndarray] = None

    def __post_init__(self):
        set_, name = object.__setattr__, self.link
        if not isinstance(name, str) or not name:
            raise InvalidObjectiveError('objective needs a link name')
        set_(self, 'ref_link', self.ref_link or None)
        if self.position not in POSITION_TYPES:
            raise InvalidObjectiveError(
                f'position type must be one of {POSITION_TYPES}, got {self.position!r}')
        if self.rotation not in ROTATION_TYPES:
            raise InvalidObjectiveError(
                f'rotation type must be one of {ROTATION_TYPES}, got {self.rotation!r}')
        if self.position == 'none' and self.rotation == 'none':
            raise InvalidObjectiveError(f'objective on {name!r} constrains nothing '
                                        '(position and rotation are both none)')
        if self.position == 'none':         # no points: (0, 3), whatever was given
            set_(self, 'local_points', np.zeros((0, 3)))
            set_(self, 'target_points', np.zeros((0, 3)))
        else:
            local = _points(self.local_points, f'local points of {name!r}')
            target = _points(self.target_points, f'target points of {name!r}')
            if len(local) == 0 and len(target) == 1:
                local = np.zeros((1, 3))
            if len(target) == 0 or len(local) != len(target):
                raise InvalidObjectiveError(
                    f'objective on {name!r}: {len(local)} local points but {len(target)} '
                    'target points; give one target point per local point')
            if not (_bounded(local) and _bounded(target)):
                if not (np.isfinite(local).all() and np.isfinite(target).all()):
                    raise InvalidObjectiveError(
                        f'objective on {name!r}: points must be finite (no NaN/inf)')
                raise InvalidObjectiveError(
                    f'objective on {name!r}: points must be within +-{MAX_MAGNITUDE:g} m')
            set_(self, 'local_points', local)
            set_(self, 'target_points', target)
            if self.position in ('planar', 'linear'):
                set_(self, 'direction',
                     _unit(self.direction, f'{self.position} direction of {name!r}'))
        if self.rotation == 'axial':
            set_(self, 'local_axis', _unit(self.local_axis, f'local_axis of {name!r}'))
            set_(self, 'target_axis', _unit(self.target_axis, f'target_axis of {name!r}'))
        if self.rotation == 'fixed':
            set_(self, 'target_rotation',
                 _rotation(self.target_rotation, f'target rotation of {name!r}'))

    @property
    def num_rows(self) -> int:
        """Residual rows: position rows per point times points, plus rotation rows."""
        n = _POSITION_ROWS[self.position] * (
            len(self.local_points) if self.position != 'none' else 0
        )
        return n + _ROTATION_ROWS[self.rotation]

    # -- named constructors -------------------------------------------------------
    @classmethod
    def point(
        cls, link: str, local_point, target_point, ref_link: Optional[str] = None
    ) -> 'IKObjective':
        """Put a point of ``link`` at a target; 3 rows."""
        return cls(
            link,
            ref_link,
            'fixed',
            _vec3(local_point, 'local point')[None],
            _vec3(target_point, 'target point')[None],
        )

    @classmethod
    def fixed_pose(
        cls,
        link: str,
        rotation,
        translation,
        ref_link: Optional[str] = None,
        local_point=(0.0, 0.0, 0.0),
    ) -> 'IKObjective':
        """
        Put the link frame at a pose (6 rows): rotation (3, 3), translation [m], ref frame.

        ``local_point`` is the link-frame point that must reach ``translation`` (the
        frame origin by default).
        """
        return cls(
            link,
            ref_link,
            'fixed',
            _vec3(local_point, 'local point')[None],
            _vec3(translation, 'target translation')[None],
            rotation='fixed',
            target_rotation=np.asarray(rotation, dtype=float),
        )

    @classmethod
    def fixed_rotation(cls, link: str, rotation, ref_link: Optional[str] = None) -> 'IKObjective':
        """Only the orientation of the link frame (3 rows)."""
        return cls(
            link,
            ref_link,
            'none',
            rotation='fixed',
            target_rotation=np.asarray(rotation, dtype=float),
        )

    @classmethod
    def hinge(
        cls,
        link: str,
        local_point,
        target_point,
        local_axis,
        target_axis,
        ref_link: Optional[str] = None,
    ) -> 'IKObjective':
        """Put a point at a target and a link axis along a target axis (5 rows)."""
        return cls(
            link,
            ref_link,
            'fixed',
            _vec3(local_point, 'local point')[None],
            _vec3(target_point, 'target point')[None],
            rotation='axial',
            local_axis=local_axis,
            target_axis=target_axis,
        )

    @classmethod
    def surface(
        cls,
        link: str,
        local_point,
        plane_point,
        plane_normal,
        local_axis,
        target_axis,
        ref_link: Optional[str] = None,
    ) -> 'IKObjective':
        """Keep a point on a plane and a link axis along a target axis (3 rows)."""
        return cls(
            link,
            ref_link,
            'planar',
            _vec3(local_point, 'local point')[None],
            _vec3(plane_point, 'plane point')[None],
            direction=plane_normal,
            rotation='axial',
            local_axis=local_axis,
            target_axis=target_axis,
        )

    @classmethod
    def on_plane(
        cls, link: str, local_point, plane_point, plane_normal, ref_link: Optional[str] = None
    ) -> 'IKObjective':
        """Keep a point on a plane (1 row)."""
        return cls(link, ref_link, 'planar', [local_point], [plane_point], direction=plane_normal)

    @classmethod
    def on_line(
        cls, link: str, local_point, line_point, line_direction, ref_link: Optional[str] = None
    ) -> 'IKObjective':
        """Keep a point on a line (2 rows)."""
        return cls(link, ref_link, 'linear', [local_point], [line_point], direction=line_direction)

    @classmethod
    def from_points(
        cls, link: str, local_points, target_points, ref_link: Optional[str] = None
    ) -> 'IKObjective':
        """Several points at several targets: 3 non-colinear points fix a pose, 2 a hinge."""
        return cls(link, ref_link, 'fixed', local_points, target_points)


def targets_in_root(model: RobotModel, objective: IKObjective, q: Optional[np.ndarray] = None,
                    idx: Optional[np.ndarray] = None) -> Optional[tuple]:
    """
    Return an objective's targets in the root frame, or None when its reference link moves.

    Returns (target points (P, 3) [m], target rotation (3, 3), or None unless the
    rotation is fixed): the objective's own arrays when they are given in the root frame.
    With a configuration q (n,) and the dofs a solve moves idx (k,), a reference link
    that only other dofs move (a torso held still) counts as still, posed at q.
    """
    ref = model.fixed_link_transform(objective.ref_link)
    if ref is None:
        if q is None or idx is None or model.moved_by(objective.ref_link, idx):
            return None
        ref = model.held_pose(objective.ref_link, q)
    points = objective.target_points
    rotation = objective.target_rotation if objective.rotation == 'fixed' else None
    if objective.ref_link not in (None, model.root_link) and ref.tobytes() != _IDENTITY_POSE:
        points = transform_points(ref, points)
        rotation = None if rotation is None else product(ref[:3, :3], rotation)
    return points, rotation


def objective_in_root_frame(model: RobotModel, o: IKObjective, q: np.ndarray) -> IKObjective:
    """Return ``o`` with its targets in the root frame, its reference link posed at q (n,)."""
    if o.ref_link is None or o.ref_link == model.root_link:
        return o
    return _in_root_frame(o, model.forward_kinematics(q, o.ref_link))


def _in_root_frame(o: IKObjective, ref: np.ndarray) -> IKObjective:
    """Return ``o`` with its targets moved out of its reference frame, at ``ref`` (4, 4)."""
    moved = copy.copy(o)        # a rigid motion of valid targets is valid: no re-validation
    set_ = object.__setattr__
    set_(moved, 'ref_link', None)
    rotation, origin = ref[:3, :3], ref[:3, 3]
    turns = not _is_identity(rotation)
    if turns or origin.any():
        set_(moved, 'target_points', transform_points(ref, o.target_points))
    if turns:
        for name in ('direction', 'target_axis', 'target_rotation'):
            value = getattr(o, name)
            if value is not None:
                value = np.asarray(value, dtype=float)
                set_(moved, name, product(rotation, value[:, None])[:, 0] if value.ndim == 1
                     else product(rotation, value))
    return moved


def _is_identity(rotation: np.ndarray) -> bool:
    """Tell whether a rotation (3, 3) is exactly the identity (compared as bytes)."""
    return rotation.tobytes() == _IDENTITY_ROTATION


_IDENTITY_ROTATION = np.eye(3).tobytes()
_IDENTITY_POSE = np.eye(4).tobytes()


@dataclass(frozen=True)
class _Layout:
    """
    The structure of a list of objectives on a model: what does not depend on targets.

    Built once per model and objective shape (link, reference, types, point count), so
    binding a request's objectives is a dictionary lookup plus one ``_Compiled`` each.
    """

    links: tuple            # per objective: link id, reference link id or None, first row
    refs: tuple
    rows: tuple
    link_ids: list          # every link the residual needs, sorted
    kinematics: LinkKinematics
    num_rows: int
    constrained_links: list
    default_active: np.ndarray
    ints: np.ndarray            # kernel tables that do not depend on targets (see kernel)
    offsets: np.ndarray
    ancestors: np.ndarray
    blocks: np.ndarray          # (first row, end) of each block, as an int array
    objective_blocks: np.ndarray    # (O, 3) per objective: point blocks [first, end), rotation
    plans: BoundedCache         # the solver's set-up per active dofs (solver._Chain)

    @classmethod
    def of(cls, model: RobotModel, objectives: Sequence[IKObjective]) -> '_Layout':
        """Return the (cached) layout; raises UnknownLinkError/UnknownFrameError."""
        key = tuple((o.link, o.ref_link, o.position, o.rotation, len(o.local_points))
                    for o in objectives)
        return model.objective_layouts.get_or_make(key, lambda: cls._build(model, objectives))

    @classmethod
    def _build(cls, model: RobotModel, objectives: Sequence[IKObjective]) -> '_Layout':
        links, refs, rows, block_sizes, objective_blocks = [], [], [], [], []
        for o in objectives:
            ref = None
            if o.ref_link is not None and o.ref_link != model.root_link:
                if o.ref_link not in model.link_index:
                    raise UnknownFrameError(
                        f'reference frame {o.ref_link!r} is not a link of robot {model.name!r}; '
                        f'use one of its links or leave it empty for the root {model.root_link!r}'
                    )
                ref = model.link_id(o.ref_link)
            links.append(model.link_id(o.link))
            refs.append(ref)
            rows.append(sum(block_sizes))
            npts = len(o.local_points) if o.position != 'none' else 0
            first = len(block_sizes)
            block_sizes += [_POSITION_ROWS[o.position]] * npts
            block_sizes += [_ROTATION_ROWS[o.rotation]] if o.rotation != 'none' else []
            objective_blocks.append((first, first + npts,
                                     first + npts if o.rotation != 'none' else -1))
        ends = list(accumulate(block_sizes))
        link_ids = sorted(set(links) | {r for r in refs if r is not None})
        kin = model.kinematics(link_ids)
        ints = np.zeros((len(objectives), 7), dtype=np.int64)
        offsets = np.zeros((len(objectives), 2, 4, 4))
        ancestors = np.zeros((len(objectives), 2, kin.num_frames))
        first_point = 0
        for k, (o, link, ref, row) in enumerate(zip(objectives, links, refs, rows)):
            npts = len(o.local_points) if o.position != 'none' else 0
            slot, offsets[k, 0] = kin.frame_of(link)
            ints[k] = (slot, kernel.NO_REF, POSITION_TYPES.index(o.position),
                       ROTATION_TYPES.index(o.rotation), first_point, npts, row)
            ancestors[k, 0] = kin.ancestor_mask(link)
            if ref is not None:
                ints[k, 1], offsets[k, 1] = kin.frame_of(ref)
                ancestors[k, 1] = kin.ancestor_mask(ref)
            first_point += npts
        return cls(
            links=tuple(links), refs=tuple(refs), rows=tuple(rows),
            link_ids=link_ids,
            kinematics=kin,
            num_rows=sum(block_sizes),
            constrained_links=sorted(set(links)),
            default_active=model.dofs_moving_links(links + [r for r in refs if r is not None]),
            ints=ints, offsets=offsets, ancestors=ancestors,
            blocks=np.array(list(zip([0] + ends[:-1], ends)), dtype=np.int64).reshape(-1, 2),
            objective_blocks=np.array(objective_blocks, dtype=np.int64).reshape(-1, 3),
            plans=BoundedCache(PLANS_PER_LAYOUT),
        )


class ObjectiveSet:
    """
    Objectives bound to a model: residual, Jacobian and errors, batched over configurations.

    Every evaluation goes through the compiled ``kernel``: its tables (the layout's
    structure plus this set's targets) are built once here.
    """

    def __init__(self, model: RobotModel, objectives: Sequence[IKObjective]):
        if not objectives:
            raise InvalidObjectiveError(
                'no objectives: give at least one pose target or objective'
            )
        self.model = model
        self.objectives = list(objectives)
        layout = self._layout = _Layout.of(model, self.objectives)
        self.kinematics = layout.kinematics
        self.num_rows = layout.num_rows
        self.constrained_links = layout.constrained_links
        self.objective_links = layout.links     # per objective: its link's id
        self.default_active = layout.default_active
        self.blocks = layout.blocks
        self.plans = layout.plans
        self.tables = self._tables()

    def _tables(self) -> tuple:
        """Return the kernel's objective tables (ints ... target_points; see ``kernel``)."""
        layout, count = self._layout, len(self.objectives)
        vectors = np.zeros((count, 7, 3))
        rotations = np.zeros((count, 3, 3))
        local, target = [], []
        for k, o in enumerate(self.objectives):
            if o.position != 'none':
                local.append(o.local_points)
                target.append(o.target_points)
            if o.position in ('planar', 'linear'):
                vectors[k, 0] = o.direction
                if o.position == 'linear':
                    vectors[k, 3:5] = orthonormal_complement(o.direction)
            if o.rotation == 'axial':
                vectors[k, 1], vectors[k, 2] = o.local_axis, o.target_axis
                vectors[k, 5:7] = orthonormal_complement(o.target_axis)
            elif o.rotation == 'fixed':
                rotations[k] = o.target_rotation
        local_points, target_points = _stacked(local), _stacked(target)
        return (layout.ints, layout.offsets, vectors, rotations, layout.ancestors, local_points,
                target_points)

    def chain(self, active: Optional[np.ndarray] = None,
              q: Optional[np.ndarray] = None) -> tuple:
        """
        Return the kernel's chain arrays for active dof indices (k,; ascending) at q (n,).

        (A (S, k), c (S,), basis (S, 4, 16), parent (S,), prismatic (S,)): frame values
        are A @ x + c with x the active values; c holds the other dofs at q and the mimic
        offsets. Default: every dof active.
        """
        kin = self.kinematics
        if active is None:
            a_map, c = kin.dof_map, kin.value_offset
        else:
            a_map, c = kin.active_arrays(active, q)
        return a_map, c, kin.basis, kin.parent, kin.is_prismatic

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, q: np.ndarray, jacobian: bool = True):
        """
        Compute the residual (B, m) and, if asked, the Jacobian (B, m, n) at q (B, n).

        Rows as the module docstring lists them; columns: one per dof (a mimic joint adds
        into its leader's column).
        """
        q = np.ascontiguousarray(q, dtype=float)
        res = np.zeros((len(q), self.num_rows))
        jac = np.zeros((len(q), self.num_rows, self.model.num_dofs if jacobian else 0))
        kernel.evaluate_batch(q, *self.chain(), *self.tables, res, jac, jacobian)
        return res, (jac if jacobian else None)

    def max_errors_at(self, x: np.ndarray, idx: np.ndarray, q: np.ndarray) -> np.ndarray:
        """
        Return the largest constraint error (B,) [m or rad] of configurations over dofs.

        Each configuration is q (n,) with the dofs idx (k,) at a row of x (B, k), its
        columns in idx's order: ``kernel.max_errors`` (NaN for a residual with a NaN).
        """
        out = np.empty(len(x))
        kernel.max_errors(np.ascontiguousarray(x, dtype=float), *self.chain(idx, q),
                          *self.tables, self.blocks, out)
        return out

    def block_errors(self, residual: np.ndarray) -> np.ndarray:
        """Euclidean norm (B, blocks) of each point block and rotation block [m or rad]."""
        return np.sqrt(np.add.reduceat(residual * residual, self.blocks[:, 0], axis=1))

    def max_error(self, residual: np.ndarray) -> np.ndarray:
        """Largest constraint error (B,): the worst point distance or rotation angle."""
        return self.block_errors(residual).max(axis=1)

    def objective_errors(self, residual: np.ndarray) -> list[tuple[float, float]]:
        """
        (position error [m], rotation error [rad]) per objective, from one residual (m,).

        The position error is the largest of the objective's point distances; 0 for what
        the objective leaves free. The norms are the solver's own (``kernel.objective_errors``).
        """
        out = np.empty((len(self.objectives), 2))
        kernel.objective_errors(np.ascontiguousarray(residual, dtype=float), self.blocks,
                                self._layout.objective_blocks, out)
        return list(map(tuple, out.tolist()))


def _stacked(points: list) -> np.ndarray:
    """Return point arrays (P_i, 3) stacked into one new C-ordered array (P, 3)."""
    if len(points) == 1:        # one objective's: a copy (its own may be read-only)
        return np.array(points[0], dtype=float, order='C')
    return np.concatenate(points) if points else np.zeros((0, 3))


def residual_and_jacobian(model: RobotModel, objectives: Sequence[IKObjective] | ObjectiveSet,
                          q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """
    Return the residual (m,) and Jacobian (m, n) of ``objectives`` at configuration q (n,).

    Rows: the objectives in order; per objective the position rows (one block per point:
    3 fixed, 2 linear, 1 planar) then the rotation rows (3 fixed, 2 axial) [m, rad].
    Columns: the model's dofs (``model.joint_names``).
    """
    problem = objectives if isinstance(objectives, ObjectiveSet) else \
        ObjectiveSet(model, objectives)
    res, jac = problem.evaluate(np.asarray(q, dtype=float)[None])
    return res[0], jac[0]
