"""
Closed-form IK: every exact solution of a chain whose geometry has an analytic solution.

Two solvers, chosen from the chain's joint frames at the zero configuration:
- 6R and 5R chains: EAIK (the ``eaik`` package: inverse kinematics by subproblem
  decomposition, derived from the joint axes and origins; Ostermeier et al.), for the
  families it knows, among them UR-style arms (three parallel inner axes: UR3/5/10, Z1)
  and spherical wrists (Kinova, PUMA-like arms); a pose in about 10 microseconds. A 5R
  chain reaches only the poses its joints can give; the others have no exact solution.
- planar arms (2 or 3 revolute joints with parallel axes, either way along them:
  ``_Planar``): poses in their plane; 3R by the law of cosines, elbow one way or the
  other, 2R one solution (a leg's hip and knee with its foot's pose in their plane), and
  on a 2R chain one point's position alone, elbow one way or the other
  (``solutions_for``).

A chain qualifies when the dofs the solve may move that move the link are such a chain of
revolute or continuous joints, none a mimic, with no other joint between them. Its base is
the first of them at its zero value: a frame fixed to the link the chain hangs from, so
joints above the chain, of any kind (a torso held still, a lift, a linear rail), only move
where the base is.

``solutions`` returns the exact solutions of a pose; ``within_limits`` the configurations
each one stands for inside the joint limits (angles a turn apart, for joints whose range
is wider than a turn); ``starts`` gives the solver one of each, nearest the seed first;
``branches`` labels them.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import threading
from typing import Optional

from numba import njit
import numpy as np

from . import exact_math, kernel
from .fork_safety import renew_locks_after_fork
from .limits import JointLimits
from .model import RobotModel

# Solutions a pose may stand for once turns are enumerated: more are not returned.
MAX_CONFIGURATIONS = 4096
TWO_PI = 2.0 * math.pi

# A label's factor this close to 0 [m^2, 1 or m^3] is a singular configuration: sign 0.
SINGULAR = 1e-9
# A configuration whose unitless singularity factor is below this is near that singular
# surface (``ClosedForm.near_singularities``): joint speeds there reach ~100x the tool's.
NEAR_SINGULAR = 0.01
# How close to a pose an answer of the closed form must come to count as a solution: the
# largest difference of [R | p] [m, and rad for small angles]. EAIK marks some exact
# answers least-squares (~1e-11 off); a URDF whose axes miss the family's geometry by
# ~1e-5 rad (SO-100's wrist) gets a few answers 1e-9 to 1e-4 off, which a descent refines.
SOLUTION_TOLERANCE = 1e-6
# Descent steps that take such an answer to a tighter tolerance (``all_solutions``): from
# 1e-6 off, Gauss-Newton steps reach 1e-15 in two or three.
REFINE_STEPS = 8
# A chain's closed form is used once it solves the poses of this many random
# configurations (``ClosedForm.solves_samples``), drawn from this random stream.
SAMPLE_POSES = 32
SAMPLE_SEED = 0xC105ED
# A chain's branch labels are used once they tell apart the exact solutions of this many
# random poses (``ClosedForm.labels_tell_apart``).
LABEL_POSES = 128
# Joint axes this close [m] to one point make a spherical wrist (or shoulder).
AXES_MEET = 1e-6


class ClosedForm:
    """The analytic IK of one link over the dofs of a chain (see the module docstring)."""

    def __init__(self, model: RobotModel, link_id: int, dofs: np.ndarray, frames: list,
                 solver):
        self.model, self.link_id, self.dofs = model, link_id, dofs
        self._dofs_bytes = np.asarray(dofs, dtype=np.int64).tobytes()
        self._frames, self._solver = frames, solver
        self._frame_slots = np.array(frames, dtype=np.int64)
        self.family = solver.family
        self._kin = model.kinematics([link_id])
        bound = model.reach_bound(link_id, np.zeros(3))
        self._reach = float(bound[1]) if bound is not None and bound[1] > 0 else 1.0  # [m]
        # the base's inverse pose, when no joint above the chain moves it
        self._to_base = np.linalg.inv(self.base_pose(np.zeros(model.num_dofs))) \
            if frames[0] == 0 else None
        self._labelled = self._label_frames()

    @classmethod
    def of(cls, model: RobotModel, link: str, active: np.ndarray) -> Optional['ClosedForm']:
        """Return the closed form of ``link`` moved by the ``active`` dofs (n,), or None."""
        link_id = model.link_id(link)
        moving = model.dofs_moving_links([link_id]) & active
        key = (link_id, moving.tobytes())
        return model.closed_forms.get_or_make(key, lambda: cls._make(model, link_id, moving))

    @classmethod
    def _make(cls, model: RobotModel, link_id: int, moving: np.ndarray):
        kin = model.kinematics([link_id])
        count = int(moving.sum())
        if count not in (2, 3, 5, 6):
            return None
        # the frames the moving dofs turn: the chain's last ones, in order, no joint
        # between them (joints above, of any kind, are held: they pose the base)
        frames = np.flatnonzero((kin.dof_map[:, moving] != 0).any(axis=1)).tolist()
        if frames != list(range(kin.num_frames - count, kin.num_frames)) or \
                any(kin.parent[f] != f - 1 for f in frames[1:]):
            return None
        # each a revolute joint of its own: no mimic joint, no prismatic one
        dofs = [model.joint_index.get(model.frame_names[f]) for f in kin.frames[frames]]
        if None in dofs or kin.prismatic[frames].any():
            return None
        dofs = np.array(dofs, dtype=int)
        zero = np.zeros(model.num_dofs)
        world = kin.transforms(zero[None])[:, 0]
        trafos = np.linalg.inv(world[frames[0]]) @ np.concatenate(
            [world[frames], kin.link_pose(world[:, None], link_id)])
        solver = _Planar.of(trafos) if count < 5 else _eaik(trafos)
        if solver is None:
            return None
        form = cls(model, link_id, dofs, frames, solver)
        with _stderr_silenced():
            if not form.solves_samples():
                return None
        if form._labelled is not None and not form.labels_tell_apart():
            form._labelled = None
        return form

    def solves_samples(self) -> bool:
        """
        Tell whether the closed form gives back random configurations from their poses.

        For SAMPLE_POSES configurations of the chain (angles uniform in [-pi, pi), the
        other dofs at 0), ``gives_back`` must hold, with every solution within
        SOLUTION_TOLERANCE of the pose. A chain EAIK files under a family its geometry
        does not fit fails (its answers miss the pose), and so does one whose poses have
        infinitely many solutions (two triples of joints with intersecting axes: a few
        are returned): the numerical solver takes those.
        """
        for q in self._samples(SAMPLE_SEED, SAMPLE_POSES):
            found, error = self.gives_back(q)
            if not found or error > SOLUTION_TOLERANCE:
                return False
        return True

    def gives_back(self, q: np.ndarray) -> tuple[bool, float]:
        """
        Solve the link's pose at configuration q (n,); check the solutions against it.

        Returns (whether q is among the solutions, a whole number of turns apart, within
        SOLUTION_TOLERANCE [rad]; the largest difference of a solution's pose from q's,
        by the model's forward kinematics [m, rad], 0 when there is none).
        """
        pose, solutions, configurations = self._solved_at(q)
        if not len(solutions):
            return False, 0.0
        reached = self.model.forward_kinematics(configurations,
                                                self.model.link_names[self.link_id])
        error = float(np.abs(reached - pose).max())
        turns = np.remainder(solutions - q[self.dofs] + math.pi, TWO_PI) - math.pi
        return bool(np.abs(turns).max(axis=1).min() <= SOLUTION_TOLERANCE), error

    def labels_tell_apart(self) -> bool:
        """
        Tell whether the branch labels tell apart the exact solutions of random poses.

        For LABEL_POSES configurations of the chain (angles uniform in [-pi, pi), the
        other dofs at 0, a random stream of its own), the solutions of the link's pose
        that are not near a singular surface (``near_singularities``) must carry
        different labels. The signs are those of the analytic solution's branch choices
        on UR-style arms and PUMA-like spherical wrists; on a geometry where they are not
        (Centauro's arms), two solutions share a label now and then, and the chain gets
        no labels.
        """
        samples = self._samples(SAMPLE_SEED + 1, LABEL_POSES)
        poses = self.model.forward_kinematics(samples, self.model.link_names[self.link_id])
        solved = [self.solutions(pose, q) for pose, q in zip(poses, samples)]
        configurations = np.zeros((sum(len(s) for s in solved), self.model.num_dofs))
        configurations[:, self.dofs] = np.concatenate(solved)
        labels, near = self.describe(configurations)       # all poses' solutions at once
        ends = np.cumsum([len(s) for s in solved]).tolist()
        return not any(_share_a_label(labels[end - len(s):end], near[end - len(s):end])
                       for s, end in zip(solved, ends))

    def labels_shared_at(self, q: np.ndarray) -> bool:
        """Tell whether two solutions of the link's pose at q (n,) share a branch label."""
        return _share_a_label(*self.describe(self._solved_at(q)[2]))

    def _samples(self, seed: int, count: int) -> np.ndarray:
        """Return ``count`` configurations (count, n): the chain's angles uniform in [-pi, pi)."""
        samples = np.zeros((count, self.model.num_dofs))
        samples[:, self.dofs] = np.random.default_rng(seed).uniform(
            -math.pi, math.pi, (count, len(self.dofs)))
        return samples

    def _solved_at(self, q: np.ndarray) -> tuple:
        """
        Solve the link's pose at configuration q (n,).

        Returns (the pose (4, 4), its exact solutions (S, k), the solutions as
        configurations (S, n) with the other dofs at q's values).
        """
        pose = self.model.forward_kinematics(q, self.model.link_names[self.link_id])
        solutions = self.solutions(pose, q)
        configurations = np.tile(q, (len(solutions), 1))
        configurations[:, self.dofs] = solutions
        return pose, solutions, configurations

    def _label_frames(self) -> Optional[tuple]:
        """
        Return (the chain's frame slots in the order the labels read them, spherical), or None.

        UR-style arms (three parallel inner axes) as they are; arms with a spherical wrist
        (the last three axes meet at a point) as they are, and those whose first three
        axes meet (a spherical shoulder: Panda's first six joints, a humanoid's arm) in
        reverse order, which makes the shoulder the wrist of the same problem. Other
        chains (5R, other 6R families) have no labels; planar arms their own.
        """
        if len(self._frames) != 6:
            return None
        slots = self._frame_slots
        if 'THREE_INNER_PARALLEL' in self.family:
            return slots, False
        world = self._kin.transforms(np.zeros((1, self.model.num_dofs)))[slots, 0]
        axes, origins = world[:, :3, 2], world[:, :3, 3]
        if _meet_at_a_point(origins[3:], axes[3:]):
            return slots, True
        if _meet_at_a_point(origins[:3], axes[:3]):
            return np.ascontiguousarray(slots[::-1]), True
        return None

    def branches(self, q: np.ndarray) -> list:
        """
        Return the branch label of each configuration (B, n), e.g. 'shoulder+ elbow- wrist+'.

        Three signs, each of a quantity of the chain's joint axes (z_i) and origins (o_i)
        at q that is zero exactly on one kind of singular configuration:
          elbow: ((o3 - o2) x (p - o3)) . z2, where p is o4 (three parallel inner axes:
              zero when they lie in one plane, the arm stretched or folded) or the wrist
              centre (spherical wrists: zero when it lies in the plane of axes 2 and 3);
          wrist: (z4 x z6) . z5, zero when axes 4 and 6 align;
          shoulder: the sign of the Jacobian's determinant over the other two signs, the
              factor that is left (zero on the shoulder singularity).
        A configuration on a singular surface gets 0 for that sign. Labels stay the same
        along any motion that avoids the singular surfaces, and the exact solutions of a
        pose carry different labels. A chain whose first three axes meet (a spherical
        shoulder) is read in reverse, joint 6 to joint 1, so that the shoulder is the
        wrist. Planar 3R arms get the elbow sign alone ('elbow+'; the same quantity with
        p the third joint's origin); 2R arms (one solution a pose; a point's two, elbow
        one way or the other, depend on where the point is on the link), other families
        (other 6R ones, 5R chains) and chains whose labels do not tell their solutions
        apart (``labels_tell_apart``) get ''.
        """
        return self.describe(q)[0]

    def near_singularities(self, q: np.ndarray, margin: float = NEAR_SINGULAR) -> list:
        """
        Return, for each configuration (B, n), the singular surfaces it lies near.

        A list of names ('shoulder', 'elbow', 'wrist') per configuration whose factor (see
        ``branches``), made unitless, is below ``margin``: the elbow's over the two link
        lengths (the sine of the angle between the links), the wrist's as it is (the sine
        of the angle between axes 4 and 6), the shoulder's (the determinant over the other
        two factors) over the chain's reach. Near these, exact solutions of nearby poses
        crowd together and branches meet; on them, joint motions that keep the pose exist.
        """
        return self.describe(q, margin)[1]

    def describe(self, q: np.ndarray, margin: float = NEAR_SINGULAR) -> tuple[list, list]:
        """Return (``branches(q)``, ``near_singularities(q, margin)``) from one FK."""
        names, signed, scaled = self._factors(q)
        labels = [' '.join(name + ('+' if v > SINGULAR else '-' if v < -SINGULAR else '0')
                           for name, v in zip(names, row)) for row in signed.tolist()]
        near = [[name for name, v in zip(names, row) if v < margin] for row in scaled.tolist()]
        return labels, near

    def _factors(self, q: np.ndarray) -> tuple:
        """Return (names, signed factors (B, F), unitless sizes (B, F)) of configurations q."""
        family = self.family
        q = np.atleast_2d(np.asarray(q, dtype=float))
        if family == _Planar.family and len(self._frames) == 3:     # the elbow alone: the
            world = self._kin.transforms(q)                          # arm stretched or folded
            z, o = world[self._frames[0], :, :3, 2], world[:, :, :3, 3]
            p = o[self._frames[2]]
            a, b = o[self._frames[1]] - o[self._frames[0]], p - o[self._frames[1]]
            elbow = _triple(a, b, z)
            return ('elbow',), elbow[:, None], np.abs(elbow / _lengths(a, b))[:, None]
        if self._labelled is None:
            return (), np.zeros((len(q), 0)), np.zeros((len(q), 0))
        signed, scaled = np.empty((len(q), 3)), np.empty((len(q), 3))
        slots, spherical = self._labelled
        kernel.branch_factors(self._kin.transforms(q), slots, spherical, self._reach, signed,
                              scaled)
        return ('shoulder', 'elbow', 'wrist'), signed, scaled

    def base_pose(self, q: np.ndarray) -> np.ndarray:
        """World pose (4, 4) of the chain's base at configuration q (n,)."""
        zeroed = np.array(q, dtype=float)
        zeroed[self.dofs] = 0.0
        return self._kin.transforms(zeroed[None])[self._frames[0], 0]

    def _to_base_at(self, q: np.ndarray) -> np.ndarray:
        """Return the root-to-base transform (4, 4) with the joints above the chain at q (n,)."""
        return self._to_base if self._to_base is not None else \
            np.linalg.inv(self.base_pose(q))

    def solutions(self, pose: np.ndarray, q: np.ndarray) -> np.ndarray:
        """
        Return every exact solution, (S, k), of a world pose (4, 4) of the link.

        Values of ``dofs`` in (-pi, pi]; q (n,) gives the joints above the chain. Empty
        when the pose is out of reach (or, for a planar arm, out of its plane).
        """
        return self._solver.solve(self._to_base_at(q) @ pose)

    def within_limits(self, solutions: np.ndarray, limits: JointLimits,
                      seed: np.ndarray) -> np.ndarray:
        """
        Return every configuration (N, k) the solutions (S, k) stand for inside the limits.

        Each angle takes every value a whole number of turns away that the joint's range
        holds (a continuous joint: the one nearest the seed's value); each solution's
        configurations come nearest the seed first. At most MAX_CONFIGURATIONS.
        """
        out = np.empty((MAX_CONFIGURATIONS, len(self.dofs)))
        count = _turned_configurations(np.ascontiguousarray(solutions, dtype=float),
                                       limits.lower[self.dofs], limits.upper[self.dofs],
                                       seed[self.dofs], out)
        return out[:count]

    @property
    def solves_points(self) -> bool:
        """Tell whether a point's position alone has finitely many solutions (planar 2R)."""
        return isinstance(self._solver, _Planar) and self._solver.count == 2

    def solutions_for(self, objective, target_points: np.ndarray,
                      target_rotation: Optional[np.ndarray],
                      q: np.ndarray) -> Optional[np.ndarray]:
        """
        Return every exact solution (S, k) of a one-point objective, or None if not solved here.

        A pose (position and rotation fixed: ``solutions``) on any chain; a point's
        position alone on a planar 2R chain (``solves_points``: elbow one way or the
        other). Targets in the root frame; q (n,) gives the joints above the chain.
        """
        pose = pose_asked(objective, target_points, target_rotation)
        if pose is not None:
            return self.solutions(pose, q)
        if not self.solves_points or objective.position != 'fixed' or \
                objective.rotation != 'none' or len(objective.local_points) != 1:
            return None
        to_base = self._to_base_at(q)
        point = to_base[:3, :3] @ target_points[0] + to_base[:3, 3]
        return self._solver.solve_point(point, objective.local_points[0])

    def starts(self, solutions: np.ndarray, seed: np.ndarray, limits: JointLimits,
               idx: np.ndarray) -> Optional[np.ndarray]:
        """
        Return the solver's first rows, (N, k) over the active dofs idx: one per solution.

        One configuration per exact solution (S, k) (each angle the value a whole number of
        turns away nearest the seed's, or a turn from it back inside the limits), sorted
        by distance to the seed; the other dofs keep the seed's values. None when no
        solution lies inside the limits.
        """
        rows = np.empty_like(solutions)
        count = kernel.nearest_turns(solutions, seed[self.dofs], limits.lower[self.dofs],
                                     limits.upper[self.dofs], rows)
        if not count:
            return None
        if idx.tobytes() == self._dofs_bytes:       # the active dofs are the chain's
            return rows[:count]
        out = np.empty((count, len(seed)))
        out[:] = seed
        out[:, self.dofs] = rows[:count]
        return out[:, idx]


class _Eaik:
    """EAIK's solution of a 5R or 6R chain, from its joint frames (4, 4) at zero in its base."""

    def __init__(self, robot, count: int):
        self._robot, self.family, self._count = robot, robot.getKinematicFamily(), count

    def solve(self, target: np.ndarray) -> np.ndarray:
        """
        Return the exact solutions (S, k) of the link's pose ``target`` in the base.

        A 5R chain reaches a pose only where its orientation is one the five joints can
        give the position: elsewhere EAIK's answers are least-squares ones, and none is
        returned. EAIK also marks some exact solutions least-squares (a step solved at a
        tangency): those its forward kinematics puts within SOLUTION_TOLERANCE of the pose
        are kept.
        """
        found = self._robot.IK(target)
        solutions = np.asarray(found.Q, dtype=float).reshape(-1, self._count)
        marked = np.asarray(found.is_LS, dtype=bool)
        if not np.count_nonzero(marked):        # (a cheaper test than any())
            return solutions.copy()             # EAIK's are read-only, Fortran-ordered
        exact = ~marked
        for i in np.flatnonzero(marked).tolist():
            exact[i] = kernel.largest_difference(self._robot.fwdKin(solutions[i]),
                                                 target) <= SOLUTION_TOLERANCE
        return np.ascontiguousarray(solutions[exact])


def _eaik(trafos: np.ndarray) -> Optional[_Eaik]:
    try:
        from eaik.IK_Homogeneous import HomogeneousRobot
    except ImportError:         # the closed form is a speed-up: without it, the solver
        return None             # starts from the seed table
    try:
        robot = HomogeneousRobot(trafos)
    except Exception:           # a geometry EAIK cannot parametrise
        return None
    return _Eaik(robot, len(trafos) - 1) if robot.hasKnownDecomposition() else None


@contextlib.contextmanager
def _stderr_silenced():
    """
    Send the process's standard error (file descriptor 2) to /dev/null within the block.

    EAIK's C++ prints "no known subproblem decomposition" there when it solves a pose of
    a 5R chain outside the families it knows, though it took the chain: the first of
    ``solves_samples``' poses, which then refuses the chain (the numerical solver takes
    it). Noise in a node's console, once per chain shape. Other threads' writes to
    descriptor 2 during the check (a few milliseconds, once per chain shape) are lost from
    the console; ROS logs also reach /rosout and the log file.
    """
    with _STDERR_LOCK:          # one thread at a time saves and restores descriptor 2
        if sys.stderr is not None:
            sys.stderr.flush()
        try:
            saved = os.dup(2)
        except OSError:         # no descriptor 2 (closed by the parent): nothing to silence
            yield
            return
        try:
            with open(os.devnull, 'w') as null:
                os.dup2(null.fileno(), 2)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


_STDERR_LOCK = threading.Lock()
renew_locks_after_fork(sys.modules[__name__], '_STDERR_LOCK')


class _Planar:
    """
    A planar arm: 2 or 3 revolute joints with parallel axes; poses in their plane.

    In the base (the first joint's frame, z its axis) joint i sits at P_i in the plane and
    the link's origin at P_t. The pose's turn about z is the sum phi of the joint angles,
    which puts the last joint at w = p - R(phi) (P_t - P_k), p the link's position. 2R:
    w must lie at joint 2's distance a from joint 1, whose angle then points at it: one
    solution (the link's origin may lie on the last axis, as a leg's foot frame at its
    knee does). 3R: the first two links must reach w, by the law of cosines
    |w|^2 = a^2 + b^2 + 2 a b cos(theta), a and b their lengths, theta the elbow's angle
    between them: two solutions, one at full stretch or fold, none beyond. A pose off the
    plane, or turned about another axis than z, has none. The angles are solved as turns
    about the base's z; a joint whose axis points the other way (-z: a leg's knee in many
    quadrupeds) turns by minus its angle.
    """

    family = 'PLANAR'
    TOLERANCE = 1e-9            # [m or rad]: how far off the plane a pose may be

    def __init__(self, trafos: np.ndarray):
        self.count = len(trafos) - 1
        self.points = np.ascontiguousarray(trafos[:, :2, 3])   # (k + 1, 2): P_1 .. P_k, P_t
        self.link_zero = np.ascontiguousarray(trafos[-1])      # the link's pose at zero
        self.signs = np.sign(trafos[:-1, 2, 2])      # (k,): +1 along z, -1 reversed

    @classmethod
    def of(cls, trafos: np.ndarray) -> Optional['_Planar']:
        """Return the planar solver of joint frames (k + 1, 4, 4), or None if not planar."""
        if np.abs(np.abs(trafos[:-1, 2, 2]) - 1.0).max() > 1e-12:
            return None         # an axis not parallel to the first
        return cls(trafos)

    def solve(self, target: np.ndarray) -> np.ndarray:
        """Return the exact solutions (S, k) of the link's pose ``target`` in the base."""
        out = np.empty((2, self.count))
        count = _planar_pose(self.points, self.link_zero, self.signs,
                             np.ascontiguousarray(target, dtype=float), self.TOLERANCE, out)
        return out[:count]

    def solve_point(self, point: np.ndarray, local: np.ndarray) -> np.ndarray:
        """
        Return the solutions (S, 2) of a 2R chain putting a point at a position (base frame).

        local (3,): the point on the link [m]. It must lie in the plane (its height at
        zero the target's); the two links, joint 1 to joint 2 and joint 2 to the point,
        reach it by the law of cosines: elbow one way or the other, one at full stretch.
        """
        out = np.empty((2, 2))
        count = _planar_point(self.points, self.link_zero, self.signs,
                              np.ascontiguousarray(point, dtype=float),
                              np.ascontiguousarray(local, dtype=float), self.TOLERANCE, out)
        return out[:count]


@njit(nogil=True, cache=True)
def _two_links(d0, d1, a0, a1, b0, b1, tolerance, turns):
    """
    Write the turns (q1, q2) that take two links from joint 1 to the point d; return how many.

    (a0, a1), (b0, b1): joint 1 to joint 2 and joint 2 to the end at zero; d from joint 1.
    By the law of cosines |d|^2 = a^2 + b^2 + 2 a b cos(theta): two solutions into turns
    (2, >=2), one at full stretch or fold, none beyond.
    """
    a, b = math.sqrt(a0 * a0 + a1 * a1), math.sqrt(b0 * b0 + b1 * b1)
    if not (a > 0.0 and b > 0.0):
        return 0
    alpha = exact_math.atan2(a1, a0)
    beta = exact_math.atan2(b1, b0) - alpha                  # the elbow's angle at zero
    cosine = (d0 * d0 + d1 * d1 - a * a - b * b) / (2.0 * a * b)
    if abs(cosine) > 1.0 + tolerance:
        return 0
    cosine = max(-1.0, min(1.0, cosine))
    theta = exact_math.atan2(math.sqrt((1.0 - cosine) * (1.0 + cosine)), cosine)
    heading = exact_math.atan2(d1, d0)
    count = 2 if theta > tolerance else 1
    for i in range(count):
        elbow = theta if i == 0 else -theta
        sine, cosine = exact_math.sincos(elbow)
        turns[i, 0] = heading - exact_math.atan2(b * sine, a + b * cosine) - alpha
        turns[i, 1] = elbow - beta
    return count


@njit(nogil=True, cache=True)
def _signed_angles(signs, out, count):
    """Turn rows of turns about z (count, k) into joint angles in [-pi, pi), in place."""
    for i in range(count):
        for j in range(out.shape[1]):
            out[i, j] = (signs[j] * out[i, j] + math.pi) % (2.0 * math.pi) - math.pi


@njit(nogil=True, cache=True)
def _planar_pose(points, link_zero, signs, target, tolerance, out):
    """
    Write the solutions of a planar chain's link pose ``target`` (4, 4) into out; return how many.

    See ``_Planar``: the pose's turn about z (target R times the link's rotation at zero,
    transposed) is the sum phi of the joint angles; the last joint then sits at
    w = p - R(phi) (P_t - P_k). 2R: joint 2 at w, one solution; 3R: ``_two_links`` to w.
    """
    k = points.shape[0] - 1
    turn = np.empty((3, 3))
    for i in range(3):
        for j in range(3):
            acc = 0.0
            for m in range(3):
                acc += target[i, m] * link_zero[j, m]
            turn[i, j] = acc
    if abs(target[2, 3] - link_zero[2, 3]) > tolerance or abs(turn[2, 0]) > tolerance or \
            abs(turn[2, 1]) > tolerance or abs(turn[2, 2] - 1.0) > tolerance:
        return 0
    phi = exact_math.atan2(turn[1, 0], turn[0, 0])
    s, c = exact_math.sincos(phi)
    ex, ey = points[k, 0] - points[k - 1, 0], points[k, 1] - points[k - 1, 1]
    w0 = target[0, 3] - (c * ex - s * ey) - points[0, 0]
    w1 = target[1, 3] - (s * ex + c * ey) - points[0, 1]
    a0, a1 = points[1, 0] - points[0, 0], points[1, 1] - points[0, 1]
    if k == 2:      # joint 2 at w fixes q1, phi then q2: one solution
        a = math.sqrt(a0 * a0 + a1 * a1)
        if a == 0.0 or abs(math.sqrt(w0 * w0 + w1 * w1) - a) > tolerance:
            return 0
        out[0, 0] = exact_math.atan2(w1, w0) - exact_math.atan2(a1, a0)
        out[0, 1] = phi - out[0, 0]
        count = 1
    else:
        count = _two_links(w0, w1, a0, a1, points[2, 0] - points[1, 0],
                           points[2, 1] - points[1, 1], tolerance, out)
        for i in range(count):
            out[i, 2] = phi - out[i, 0] - out[i, 1]
    _signed_angles(signs, out, count)
    return count


@njit(nogil=True, cache=True)
def _planar_point(points, link_zero, signs, point, local, tolerance, out):
    """Write the solutions of a 2R chain putting ``local`` at ``point`` into out; their count."""
    at_zero = np.empty(3)
    for i in range(3):
        at_zero[i] = link_zero[i, 3] + link_zero[i, 0] * local[0] + \
            link_zero[i, 1] * local[1] + link_zero[i, 2] * local[2]
    if abs(point[2] - at_zero[2]) > tolerance:
        return 0
    count = _two_links(point[0] - points[0, 0], point[1] - points[0, 1],
                       points[1, 0] - points[0, 0], points[1, 1] - points[0, 1],
                       at_zero[0] - points[1, 0], at_zero[1] - points[1, 1], tolerance, out)
    _signed_angles(signs, out, count)
    return count


@njit(nogil=True, cache=True)
def _turned_configurations(solutions, lower, upper, near, out):
    """
    Write the configurations of solutions (S, k) inside [lower, upper] (k,) into out.

    A joint with finite limits takes each value a whole number of turns from its
    solution's inside them (at most 8), nearest ``near`` first (ties: the lower first); an
    unbounded joint the value nearest ``near``. A solution's configurations are every
    combination of its joints' values (the last joint's changing fastest), ordered by
    their largest difference from ``near`` (stably); a solution with a joint that has no
    value inside its limits has none. Returns how many were written, at most out's rows.
    """
    k = solutions.shape[1]
    choices, counts = np.empty((k, 8)), np.empty(k, dtype=np.int64)
    written = 0
    for s in range(solutions.shape[0]):
        combinations = 1
        for j in range(k):
            value, lo, hi = solutions[s, j], lower[j], upper[j]
            if not (math.isfinite(lo) and math.isfinite(hi)):
                choices[j, 0] = value + TWO_PI * round((near[j] - value) / TWO_PI)
                counts[j] = 1
            else:
                first = value + TWO_PI * math.ceil((lo - value) / TWO_PI - 1e-12)
                c = 0
                for m in range(8):
                    v = first + m * TWO_PI
                    if v <= hi:
                        p = c           # insertion by distance to near: stable
                        while p > 0 and abs(choices[j, p - 1] - near[j]) > abs(v - near[j]):
                            choices[j, p] = choices[j, p - 1]
                            p -= 1
                        choices[j, p] = v
                        c += 1
                counts[j] = c
            combinations *= counts[j]
        if combinations == 0:
            continue
        grid = np.empty((combinations, k))
        far = np.empty(combinations)
        for r in range(combinations):
            rest, worst = r, 0.0
            for j in range(k - 1, -1, -1):
                grid[r, j] = choices[j, rest % counts[j]]
                rest //= counts[j]
                worst = max(worst, abs(grid[r, j] - near[j]))
            far[r] = worst
        for r in np.argsort(far, kind='mergesort'):
            if written == out.shape[0]:
                return written
            out[written] = grid[r]
            written += 1
    return written


@njit(nogil=True, cache=True)
def _placed_nearest_first(configurations, seed, dofs, out):
    """
    Write configurations (N, k) of the dofs (k,) into out (N, n), nearest the seed first.

    Each row of out is the seed (n,) with ``dofs`` at a configuration's values; nearest:
    the largest joint difference from the seed, ties in the configurations' order.
    """
    far = np.empty(configurations.shape[0])
    for r in range(configurations.shape[0]):
        worst = 0.0
        for j in range(dofs.shape[0]):
            worst = max(worst, abs(configurations[r, j] - seed[dofs[j]]))
        far[r] = worst
    for i, r in enumerate(np.argsort(far, kind='mergesort')):
        out[i, :] = seed
        for j in range(dofs.shape[0]):
            out[i, dofs[j]] = configurations[r, j]


def pose_asked(objective, target_points: np.ndarray,
               target_rotation: np.ndarray) -> Optional[np.ndarray]:
    """
    Return the pose (4, 4) a one-point pose objective asks of its link, or None.

    The objective's targets (points (1, 3), rotation (3, 3)) are given in the frame the
    pose is wanted in; None for any other kind of objective.
    """
    if objective.position != 'fixed' or objective.rotation != 'fixed' or \
            len(objective.local_points) != 1:
        return None
    pose = np.zeros((4, 4))
    pose[3, 3] = 1.0
    pose[:3, :3] = target_rotation
    pose[:3, 3] = target_points[0] - target_rotation @ objective.local_points[0]
    return pose


def _share_a_label(labels: list, near: list) -> bool:
    """Tell whether two solutions not near a singular surface carry the same (non-empty) label."""
    apart = [label for label, kinds in zip(labels, near) if label and not kinds]
    return len(set(apart)) < len(apart)


def _meet_at_a_point(origins: np.ndarray, axes: np.ndarray) -> bool:
    """
    Tell whether lines (a point (3, 3), a unit direction (3, 3) each) pass through one point.

    The point nearest all three in the least-squares sense must lie within AXES_MEET [m]
    of each; parallel lines (no such point, or a line of them) do not meet.
    """
    projections = np.eye(3)[None] - axes[:, :, None] * axes[:, None, :]    # (3, 3, 3)
    normal = projections.sum(axis=0)
    if np.linalg.cond(normal) > 1e6:
        return False
    point = np.linalg.solve(normal, np.einsum('lij,lj->i', projections, origins))
    distances = np.einsum('lij,lj->li', projections, point - origins)
    return bool(np.abs(distances).max() <= AXES_MEET)


# (a x b)_i = eps_ijk a_j b_k: one einsum, where np.cross on a few vectors costs ~17 us
_LEVI_CIVITA = np.zeros((3, 3, 3))
_LEVI_CIVITA[0, 1, 2] = _LEVI_CIVITA[1, 2, 0] = _LEVI_CIVITA[2, 0, 1] = 1.0
_LEVI_CIVITA[0, 2, 1] = _LEVI_CIVITA[2, 1, 0] = _LEVI_CIVITA[1, 0, 2] = -1.0


def _lengths(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Return |a| |b| (B,) of vectors (B, 3), 1 where it is 0."""
    product = np.sqrt(np.einsum('bi,bi->b', a, a) * np.einsum('bi,bi->b', b, b))
    return np.where(product > 0, product, 1.0)


def _triple(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Return the triple products (a x b) . c (B,) of vectors (B, 3)."""
    return np.einsum('ijk,bj,bk,bi->b', _LEVI_CIVITA, a, b, c)


def all_solutions(model: RobotModel, objective, seed: np.ndarray,
                  limits: Optional[JointLimits] = None,
                  active: Optional[np.ndarray] = None,
                  tolerance: float = 1e-9) -> Optional[np.ndarray]:
    """
    Return every configuration (S, n) that puts a link at a pose, or None without a closed form.

    objective: an ``IKObjective`` fixing the link's pose (position of one point and
    rotation), or one point's position on a planar 2R chain (elbow one way or the other),
    its reference link posed at ``seed`` (n,). Every exact solution, with
    each angle at every value a whole number of turns away inside ``limits`` (a
    continuous joint: the one nearest the seed), the other dofs at the seed's values,
    sorted by distance to the seed (largest joint difference); each exact solution is
    verified by forward kinematics to ``tolerance`` (m and rad), after a few descent steps
    (``_refined``) when it misses by less than SOLUTION_TOLERANCE, and its turn variants
    reach the same pose. active (n,) bool: the dofs that may move (default: those that
    move the link).
    """
    from .objectives import ObjectiveSet, targets_in_root

    seed = np.asarray(seed, dtype=float)
    limits = limits or JointLimits.from_model(model)
    if active is None:
        active = model.dofs_moving_links([model.link_id(objective.link)])
    form = ClosedForm.of(model, objective.link, active)
    # the targets in the root frame, the reference link posed at the seed (None when
    # the chain moves it: no configuration then has a closed form)
    targets = None if form is None else \
        targets_in_root(model, objective, seed, np.flatnonzero(active))
    exact = None if targets is None else form.solutions_for(objective, *targets, seed)
    if exact is None:
        return None
    problem = ObjectiveSet(model, [objective])
    errors = problem.max_errors_at(exact, form.dofs, seed)
    for i in np.flatnonzero((errors > tolerance) & (errors <= SOLUTION_TOLERANCE)).tolist():
        q = seed.copy()
        q[form.dofs] = exact[i]
        exact[i], errors[i] = _refined(problem, form, q, tolerance)
    checked = exact[errors <= tolerance]
    # angles a whole turn apart reach the same pose: their FK is that of the solution
    inside = form.within_limits(checked, limits, seed)
    rows = np.empty((len(inside), len(seed)))
    _placed_nearest_first(inside, seed, form.dofs, rows)
    return rows


def _refined(problem, form: ClosedForm, q: np.ndarray, tolerance: float) -> tuple:
    """
    Refine an exact solution that misses its pose by a little; return (its angles, error).

    q (n,): the solution's configuration, within SOLUTION_TOLERANCE of the pose (EAIK's
    answers on a URDF whose axes miss the family's geometry by ~1e-5 rad, or solved at a
    tangency): at most REFINE_STEPS local descent steps over the chain's dofs, the joint
    limits off (the turns inside them are enumerated afterwards). Returns the chain's
    angles (k,) in [-pi, pi) and the largest error left [m, rad].
    """
    from .solver import LOCAL, solve, SolverSettings

    model = problem.model
    result = solve(model, problem, q, mode=LOCAL,
                   settings=SolverSettings(tolerance=max(tolerance, 1e-12),   # its floor
                                           max_iterations=REFINE_STEPS),
                   limits=JointLimits.from_model(model, enabled=False),
                   active_joints=[model.joint_names[d] for d in form.dofs.tolist()])
    angles = np.remainder(result.q[form.dofs] + math.pi, TWO_PI) - math.pi
    return angles, result.max_error
