"""
A robot's kinematic tree as flat numpy arrays: forward kinematics and Jacobians.

Frames and units: every transform is a 4x4 homogeneous matrix from a frame to the
world, where "world" is the frame of the robot's root link. Lengths in metres, revolute
and continuous joint positions in radians, prismatic joint positions in metres.

Layout: only movable joints are kept as *frames* (fixed joints are folded into the
origin of the next movable joint or into a link's offset). A frame's transform is

    T_frame = T_parent_frame @ origin @ motion(v),   motion linear in (1, sin v, cos v, v)

so the local transforms of every frame of every configuration in a batch come from one
matrix product. The configuration vector ``q`` holds one value per *degree of freedom*
(a movable joint that is not a mimic); mimic joints follow ``v = multiplier * q_leader +
offset``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
import hashlib
from typing import Optional, Sequence

import numpy as np

from . import kernel
from .bounded_cache import BoundedCache
from .errors import closest_names, UnknownJointError, UnknownLinkError, URDFError
from .transforms import norm, orthonormal_complement, product

REVOLUTE = 'revolute'
CONTINUOUS = 'continuous'
PRISMATIC = 'prismatic'
FIXED = 'fixed'


@dataclass(frozen=True)
class JointSpec:
    """
    One URDF joint as the model needs it.

    origin: 4x4 transform from the parent link frame to the joint frame at zero position.
    axis: unit axis in the joint frame. lower/upper: limits [rad or m]; -inf/inf when
    unbounded. mimic: (leader joint name, multiplier, offset) or None.
    """

    name: str
    joint_type: str
    parent: str
    child: str
    origin: np.ndarray
    axis: np.ndarray = field(default_factory=lambda: np.array([1.0, 0.0, 0.0]))
    lower: float = -np.inf
    upper: float = np.inf
    mimic: Optional[tuple] = None


class RobotModel:
    """Kinematic tree of a robot, built once, evaluated vectorised over batches."""

    def __init__(
        self,
        name: str,
        links: Sequence[str],
        joints: Sequence[JointSpec],
        warnings: Sequence[str] = (),
    ):
        self.name = name
        self.warnings = list(warnings)
        self.link_names: list[str] = list(links)
        if len(set(self.link_names)) != len(self.link_names):
            dup = sorted({n for n in self.link_names if self.link_names.count(n) > 1})
            raise URDFError(f'duplicate link names: {dup}')
        self.link_index = {n: i for i, n in enumerate(self.link_names)}
        names = [j.name for j in joints]
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise URDFError(f'duplicate joint names: {dup}')
        self._build_tree(joints)
        self._build_arrays()

    # ------------------------------------------------------------------ construction
    def _build_tree(self, joints: Sequence[JointSpec]) -> None:
        parent_joint: dict[str, JointSpec] = {}
        children: dict[str, list[JointSpec]] = {n: [] for n in self.link_names}
        for j in joints:
            for end in (j.parent, j.child):
                if end not in self.link_index:
                    raise URDFError(
                        f'joint {j.name!r} refers to link {end!r}, which is not defined'
                    )
            if j.child in parent_joint:
                raise URDFError(
                    f'link {j.child!r} has two parent joints: '
                    f'{parent_joint[j.child].name!r} and {j.name!r}'
                )
            if j.joint_type not in (REVOLUTE, CONTINUOUS, PRISMATIC, FIXED):
                raise URDFError(f'joint {j.name!r} has unsupported type {j.joint_type!r}')
            parent_joint[j.child] = j
            children[j.parent].append(j)
        roots = [n for n in self.link_names if n not in parent_joint]
        if len(roots) != 1:
            if not roots:
                raise URDFError('the joints form a cycle: no link is without a parent')
            raise URDFError(
                f'the robot must be one tree, but {len(roots)} links have no parent: {roots[:6]}'
            )
        self.root_link = roots[0]
        self.leaf_links = [n for n in self.link_names if not children[n]]

        # Walk the tree from the root: frames in topological order.
        frame_parent, frame_origin, frame_axis, frame_type, frame_joint = [], [], [], [], []
        link_frame = {self.root_link: -1}
        link_offset = {self.root_link: np.eye(4)}
        stack = [self.root_link]
        visited = 0
        while stack:
            link = stack.pop()
            visited += 1
            for j in children[link]:
                pre = product(link_offset[link], j.origin)
                if j.joint_type == FIXED:
                    link_frame[j.child] = link_frame[link]
                    link_offset[j.child] = pre
                else:
                    frame_parent.append(link_frame[link])
                    frame_origin.append(pre)
                    frame_axis.append(np.asarray(j.axis, dtype=float))
                    frame_type.append(j.joint_type)
                    frame_joint.append(j)
                    link_frame[j.child] = len(frame_joint) - 1
                    link_offset[j.child] = np.eye(4)
                stack.append(j.child)
        if visited != len(self.link_names):
            raise URDFError('the joints form a cycle')
        self._frame_parent = np.array(frame_parent, dtype=int)
        self._frame_origin = np.array(frame_origin).reshape(-1, 4, 4)
        self._frame_axis = np.array(frame_axis).reshape(-1, 3)
        self._frame_type = frame_type
        self._frame_joint = frame_joint
        self.link_frame = np.array([link_frame[n] for n in self.link_names], dtype=int)
        self.link_offset = np.array([link_offset[n] for n in self.link_names])

    def _build_arrays(self) -> None:
        frames = self._frame_joint
        nf = len(frames)
        by_name = {j.name: i for i, j in enumerate(frames)}
        self.frame_names = [j.name for j in frames]

        # Degrees of freedom: movable joints that are not mimics, in tree order.
        dof_frames = [i for i, j in enumerate(frames) if j.mimic is None]
        self.joint_names: list[str] = [frames[i].name for i in dof_frames]
        self.joint_index = {n: k for k, n in enumerate(self.joint_names)}
        self.num_dofs = len(self.joint_names)
        mimic_matrix = np.zeros((nf, self.num_dofs))
        mimic_offset = np.zeros(nf)
        for k, i in enumerate(dof_frames):
            mimic_matrix[i, k] = 1.0
        for i, j in enumerate(frames):
            if j.mimic is None:
                continue
            leader, mult, off = j.mimic
            seen = {j.name}
            while leader in by_name and frames[by_name[leader]].mimic is not None:
                if leader in seen:
                    raise URDFError(f'mimic joints form a loop through {leader!r}')
                seen.add(leader)
                l2, m2, o2 = frames[by_name[leader]].mimic
                leader, mult, off = l2, mult * m2, mult * o2 + off
            if leader not in self.joint_index:
                raise URDFError(
                    f'mimic joint {j.name!r} follows {leader!r}, which is not a movable joint'
                )
            mimic_matrix[i, self.joint_index[leader]] = mult
            mimic_offset[i] = off
        self._mimic_matrix = mimic_matrix
        self._mimic_offset = mimic_offset
        self._has_mimic = bool(nf != self.num_dofs or np.any(mimic_offset != 0))

        types = np.array(self._frame_type if nf else [], dtype=object)
        self._is_prismatic = (types == PRISMATIC).astype(float) if nf else np.zeros(0)

        # Each frame is turned so that its joint axis is its local z axis: then the world
        # axis and origin of a frame are columns 2 and 3 of its transform, with no product.
        # align[i] rotates z onto the URDF axis; the local transform of frame i becomes
        # C = align[parent]^T @ origin @ align[i] times motion_z(v), which is linear in
        # (1, sin v, cos v, v): I + K^2 + sin v K - cos v K^2 for a revolute joint (K =
        # skew(z)), I + v Z for a prismatic one, so local = (1, sin v, cos v, v) @ A[i].
        self._frame_align = np.array([_z_onto(a) for a in self._frame_axis]).reshape(-1, 4, 4)
        k = np.zeros((4, 4))
        k[0, 1], k[1, 0] = -1.0, 1.0          # skew(z)
        slide = np.zeros((4, 4))
        slide[2, 3] = 1.0                      # translation along z
        a = np.zeros((nf, 4, 4, 4))
        for i in range(nf):
            p = self._frame_parent[i]
            c = product(self._frame_origin[i], self._frame_align[i])
            if p >= 0:
                c = product(self._frame_align[p].T, c)
            if self._is_prismatic[i]:
                a[i, 0] = c
                a[i, 3] = product(c, slide)
            else:
                a[i, 0] = product(c, np.eye(4) + product(k, k))
                a[i, 1] = product(c, k)
                a[i, 2] = -product(c, product(k, k))
        self._local_basis = a.reshape(nf, 4, 16)

        # Ancestry: frame_ancestors[i, k] is True when frame k is frame i or above it.
        anc = np.zeros((nf + 1, nf), dtype=bool)  # row nf: the root (no ancestors)
        for i in range(nf):
            p = self._frame_parent[i]
            anc[i] = anc[p] if p >= 0 else False
            anc[i, i] = True
        # bounded: requests choose the keys (sets of links, local points, shapes)
        self._reach_cache = BoundedCache(1024)
        self._kinematics_cache = BoundedCache(256)
        self._moving_cache = BoundedCache(256)
        # ObjectiveSet's structure per objective shape (objectives._Layout)
        self.objective_layouts = BoundedCache(256)
        # closed forms per (link, moving dofs), None where there is none (closed_form)
        self.closed_forms = BoundedCache(256)
        # poses of links per values of the dofs that move them (held_pose)
        self._held_poses = BoundedCache(64)
        self._moving_dofs = BoundedCache(256)
        self._moved_by = BoundedCache(256)       # (link, active dofs): bool
        self._named_dofs = BoundedCache(32)      # masks of lists of joint names
        rows = np.where(self.link_frame >= 0, self.link_frame, nf)
        self.link_ancestor_frames = anc[rows]  # (num_links, num_frames)

        # Limits per dof, as parsed (JointLimits applies margins and overrides).
        self.lower = np.array([frames[i].lower for i in dof_frames], dtype=float)
        self.upper = np.array([frames[i].upper for i in dof_frames], dtype=float)
        self.joint_types = [frames[i].joint_type for i in dof_frames]
        self.is_prismatic_dof = np.array([t == PRISMATIC for t in self.joint_types], dtype=bool)
        self.is_continuous_dof = np.array([t == CONTINUOUS for t in self.joint_types], dtype=bool)

    @cached_property
    def fingerprint(self) -> str:
        """
        Return a digest of everything the kinematics depend on (sha256, hex).

        Two models with the same fingerprint answer every query alike: caches of the
        solver (the seed table) are shared between them, so a description published
        again, or swapped back and forth, does not rebuild them.
        """
        digest = hashlib.sha256()
        for names in (self.link_names, self.frame_names, self.joint_names):
            digest.update('\0'.join(names).encode() + b'\1')
        for array in (self._frame_parent, self._local_basis, self._mimic_matrix,
                      self._mimic_offset, self._is_prismatic, self.link_frame, self.link_offset,
                      self.lower, self.upper):
            digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()

    @property
    def has_mimic(self) -> bool:
        """Tell whether some joint follows another (mimic)."""
        return self._has_mimic

    # ------------------------------------------------------------------ names
    def link_id(self, name: str) -> int:
        """Index of a link by name; raises UnknownLinkError with the closest names."""
        try:
            return self.link_index[name]
        except KeyError:
            raise UnknownLinkError(
                f'robot {self.name!r} has no link {name!r}; closest: '
                f'{closest_names(name, self.link_names)}'
            ) from None

    def joint_id(self, name: str) -> int:
        """Index of a degree of freedom (movable, non-mimic joint) by name."""
        try:
            return self.joint_index[name]
        except KeyError:
            mimic = [j.name for j in self._frame_joint if j.mimic is not None]
            why = ' (a mimic joint: set its leader instead)' if name in mimic else ''
            raise UnknownJointError(
                f'robot {self.name!r} has no movable joint {name!r}{why}; closest: '
                f'{closest_names(name, self.joint_names)}'
            ) from None

    def fixed_link_transform(self, name: Optional[str]) -> Optional[np.ndarray]:
        """
        Return the constant world transform (4, 4) of a link that no joint moves.

        None (or the root link's name) gives the identity; None is returned for a link
        that some joint moves.
        """
        if name is None or name == self.root_link:
            return _IDENTITY
        lid = self.link_id(name)
        return None if self.link_frame[lid] >= 0 else self.link_offset[lid]

    def dofs_moving_links(self, link_ids: Sequence[int]) -> np.ndarray:
        """Boolean mask over dofs: True for dofs that move any of the given links."""
        key = tuple(sorted({int(i) for i in link_ids}))
        mask = self._moving_cache.get(key)
        if mask is None:
            anc = np.any(self.link_ancestor_frames[list(key)], axis=0) if key else \
                np.zeros(len(self._frame_joint), dtype=bool)
            mask = (anc.astype(float) @ np.abs(self._mimic_matrix)) > 0
            mask.flags.writeable = False
            self._moving_cache[key] = mask
        return mask

    # ------------------------------------------------------------------ kinematics
    def kinematics(self, link_ids: Sequence[int]) -> 'LinkKinematics':
        """Return (cached) kinematics of these links over only the joints that move them."""
        key = tuple(sorted({int(i) for i in link_ids}))
        kin = self._kinematics_cache.get(key)
        if kin is None:
            kin = LinkKinematics(self, key)
            self._kinematics_cache[key] = kin
        return kin

    def forward_kinematics(self, q, link: str) -> np.ndarray:
        """Return the world transform (4, 4) of ``link`` at ``q`` (n,), or (B, 4, 4) for (B, n)."""
        q = np.asarray(q, dtype=float)
        lid = self.link_id(link)
        kin = self.kinematics([lid])
        batch = q.reshape(len(q) if q.ndim == 2 else 1, self.num_dofs)
        t = kin.link_pose(kin.transforms(batch), lid)
        return t if q.ndim == 2 else t[0]

    def dofs_named(self, names: Sequence[str]) -> np.ndarray:
        """Return the boolean mask (n,) of the named dofs (read-only, kept per list of names)."""
        key = tuple(names)
        mask = self._named_dofs.get(key)
        if mask is None:
            ids = [self.joint_id(name) for name in key]
            mask = np.zeros(self.num_dofs, dtype=bool)
            mask[ids] = True
            mask.flags.writeable = False
            # kept under the model's own name strings (not a request's copies), for lists
            # without repeats
            if len(ids) <= self.num_dofs:
                self._named_dofs[tuple(self.joint_names[i] for i in ids)] = mask
        return mask

    def moved_by(self, link: str, idx: np.ndarray) -> bool:
        """Tell whether any of the dofs idx (k,) moves ``link`` (kept per link and idx)."""
        key = (link, idx.tobytes())
        moved = self._moved_by.get(key)
        if moved is None:
            moved = bool(self.dofs_moving_links([self.link_id(link)])[idx].any())
            self._moved_by[key] = moved
        return moved

    def held_pose(self, link: str, q: np.ndarray) -> np.ndarray:
        """
        Return the world pose (4, 4, read-only) of ``link`` at q (n,), kept per pose.

        For a link a solve holds still (a base, a torso whose joints are not active): its
        pose is asked once per solve, and solves in a row mostly hold it at one value.
        Kept by the values of the dofs that move it, so a new value is a new entry.
        """
        lid = self.link_id(link)
        moving = self._moving_dofs.get(lid)
        if moving is None:
            moving = np.flatnonzero(self.dofs_moving_links([lid]))
            self._moving_dofs[lid] = moving
        key = (lid, q[moving].tobytes())
        pose = self._held_poses.get(key)
        if pose is None:
            pose = self.forward_kinematics(q, link)
            pose.flags.writeable = False
            self._held_poses[key] = pose
        return pose

    # ------------------------------------------------------------------ reach
    def reach_bound(self, link_id: int, local_point: np.ndarray):
        """
        Bound the reach: a fixed world point c and a radius r with |p - c| <= r always.

        p is ``local_point`` (link frame, m) on ``link_id``. Returns None when the link
        does not move or when a prismatic joint without finite travel is in its chain.
        """
        key = (link_id, tuple(np.asarray(local_point, float).tolist()))
        return self._reach_cache.get_or_make(key, lambda: self._reach_bound(link_id, local_point))

    def _reach_bound(self, link_id: int, local_point):
        f = int(self.link_frame[link_id])
        if f < 0:
            return None
        tail = product(self.link_offset[link_id],
                       np.append(np.asarray(local_point, float), 1.0)[:, None])[:, 0]
        radius = norm(tail[:3])
        while True:
            radius += self._travel(f)
            p = int(self._frame_parent[f])
            if p < 0:
                return self._frame_origin[f][:3, 3].copy(), radius
            radius += norm(self._frame_origin[f][:3, 3])
            f = p

    def _travel(self, frame: int) -> float:
        if not self._is_prismatic[frame]:
            return 0.0
        col = self._mimic_matrix[frame]
        k = int(np.argmax(np.abs(col)))
        lo, hi = self.lower[k], self.upper[k]
        if not (np.isfinite(lo) and np.isfinite(hi)):
            return np.inf
        return abs(col[k]) * max(abs(lo), abs(hi)) + abs(self._mimic_offset[frame])


_IDENTITY = np.eye(4)
_IDENTITY.flags.writeable = False


def _z_onto(axis: np.ndarray) -> np.ndarray:
    """Return a rotation (4, 4) whose z column is ``axis`` (unit, 3): columns (u, v, axis)."""
    u, v = orthonormal_complement(axis)
    t = np.eye(4)
    t[:3, 0], t[:3, 1], t[:3, 2] = u, v, axis
    return t


class LinkKinematics:
    """
    The chain of frames that move some links: the arrays the kernel walks, and batched FK.

    Arrays are over the S needed frames (ancestors of the links), in tree order (parents
    first). Frame transforms are frame-major (S, B, 4, 4), computed by the kernel's FK (the
    one the solver's residuals use: one implementation of FK, ~1.4 us for a 6-joint arm
    where numpy's per-call overhead cost ~10 us). Each frame is turned so that its joint
    axis is its z axis: column 2 of a frame transform is the world joint axis and column 3
    the joint origin. ``dof_map`` (S, n) gives each frame's value from the dofs (mimic
    joints follow their leader), plus ``value_offset`` (S,).
    """

    def __init__(self, model: RobotModel, link_ids: tuple):
        frames = np.flatnonzero(np.any(model.link_ancestor_frames[list(link_ids)], axis=0)) \
            if link_ids else np.zeros(0, dtype=int)
        self.frames = frames                # model frame index of each slot
        slot = {int(f): i for i, f in enumerate(frames)}
        parent = [slot[int(p)] if p >= 0 else -1 for p in model._frame_parent[frames]]
        # parents come first (tree order); -1 is the root
        self.parent = np.array(parent, dtype=np.int64)
        # local transform (S, B, 16) = (1, sin v, cos v, v) @ basis (S, 4, 16)
        self.basis = model._local_basis[frames]
        self.prismatic = model._is_prismatic[frames]
        self.is_prismatic = np.ascontiguousarray(self.prismatic > 0)
        self.dof_map = model._mimic_matrix[frames]          # (S, n): frame value per dof
        # the dof each frame is, when none of the frames is a mimic joint (else None)
        dofs = [model.joint_index.get(model.frame_names[f]) for f in frames]
        self.frame_dofs = None if None in dofs else np.array(dofs, dtype=int)
        self.value_offset = np.ascontiguousarray(model._mimic_offset[frames])
        self._slot = {lid: slot.get(int(model.link_frame[lid]), -1) for lid in link_ids}
        # a link's pose from its frame's (z-aligned) transform
        self._offset = {
            lid: np.ascontiguousarray(
                product(model._frame_align[model.link_frame[lid]].T, model.link_offset[lid])
                if model.link_frame[lid] >= 0 else model.link_offset[lid])
            for lid in link_ids
        }
        # frames that do not move a link get zero Jacobian columns (None: all move it)
        masks = {lid: model.link_ancestor_frames[lid][frames] for lid in link_ids}
        self._mask = {lid: None if m.all() else m.astype(float) for lid, m in masks.items()}
        self.num_frames = len(frames)
        self._active = BoundedCache(16)     # per set of active dofs (_over)

    def active_arrays(self, idx: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """
        Return (A (S, k), c (S,)): frame values A @ x + c for active dofs idx (k,) at q (n,).

        x holds the values of the dofs idx (ascending); c the mimic offsets and the other
        dofs' contribution at q.
        """
        a_map, inactive, _ = self._over(idx)
        if a_map is self.dof_map:           # every dof active
            return a_map, self.value_offset
        c = np.empty(self.num_frames)
        kernel.inactive_values(self.dof_map, self.value_offset, q, inactive, c)
        return a_map, c

    def turns_only_its_own_frame(self, idx: np.ndarray) -> np.ndarray:
        """
        Tell, per active dof idx (k,), whether it turns no frame but its own, one for one.

        False for a mimic joint's leader: a whole turn of it is not a whole turn of its
        follower.
        """
        return self._over(idx)[2]

    def _over(self, idx: np.ndarray) -> tuple:
        """Return (A (S, k), the inactive dofs (n,), ``turns_only_its_own_frame``) for idx."""
        entry = self._active.get(idx.tobytes())
        if entry is None:
            inactive = np.ones(self.dof_map.shape[1], dtype=bool)
            inactive[idx] = False
            a_map = self.dof_map if not inactive.any() else \
                np.ascontiguousarray(self.dof_map[:, idx])
            own = np.all((a_map == 0.0) | (a_map == 1.0) &
                         (np.count_nonzero(a_map, axis=0) == 1), axis=0)
            entry = (a_map, inactive, own)
            self._active[idx.tobytes()] = entry
        return entry

    def transforms(self, q: np.ndarray) -> np.ndarray:
        """Compute the world pose (S, B, 4, 4) of each needed frame at configurations q (B, n)."""
        q = np.ascontiguousarray(q, dtype=float)
        out = np.empty((self.num_frames, len(q), 4, 4))
        kernel.batch_frame_transforms(q, self.dof_map, self.value_offset, self.basis,
                                      self.parent, out)
        return out

    def frame_of(self, link_id: int) -> tuple[int, np.ndarray]:
        """
        Return where a link sits: (its frame's slot, offset (4, 4)).

        The link's world pose is ``transforms(q)[slot] @ offset``; slot is -1 for a link
        no joint moves, whose offset is then its world pose.
        """
        return self._slot[link_id], self._offset[link_id]

    def ancestor_mask(self, link_id: int) -> np.ndarray:
        """Return 1.0 for each frame (S,) that moves the link, 0.0 for the others."""
        mask = self._mask[link_id]
        return np.ones(self.num_frames) if mask is None else mask

    def link_pose(self, frames: np.ndarray, link_id: int) -> np.ndarray:
        """World transforms (B, 4, 4) of a link, from ``transforms``."""
        f = self._slot[link_id]
        if f < 0:
            return np.broadcast_to(self._offset[link_id], (frames.shape[1], 4, 4))
        return product(frames[f], self._offset[link_id])
