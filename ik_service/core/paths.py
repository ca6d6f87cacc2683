"""
A path solved as one continuous motion: waypoints in order, each from the previous answer.

``solve_path`` solves waypoints in order, each from the previous answer, inside a box of
``max_step`` around it (per joint or for all) with the previous answer as the bias: the
descent cannot jump to another solution branch, and where a stretch is out of reach the
answers stay continuous (following the targets as closely as the box allows, or holding
the last configuration that met one, whichever meets more of the path) and rejoin the
path when it comes back. ``max_cartesian_step`` solves interpolated targets first where
consecutive waypoints are far apart, carrying the configuration along; only the
waypoints' answers are returned.

Independent problems in one call are ``batches.solve_batch``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import Callable, Optional, Sequence

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from .errors import InvalidSettingsError
from .limits import JointLimits
from .model import RobotModel
from .objectives import IKObjective, ObjectiveSet
from .solver import (CANCELLED, exact_solutions, GLOBAL, IKResult, LOCAL, MAX_ITERATIONS,
                     result_at, solve, SolverSettings, UNREACHABLE)

# A joint step larger than this between consecutive waypoints [rad or m] is a branch
# change unless the caller allows one (also the default largest step).
DEFAULT_MAX_STEP = 0.5
# Starts inside the box after a failed descent from the previous answer: enough near
# singular configurations, and a bounded cost per unreachable waypoint.
DEFAULT_RESTARTS_PER_WAYPOINT = 16
# Two walks whose answers to a waypoint are this close [rad or m] go on alike: a stretch
# solved again stops there (far above the descent's own spread, far below a visible step).
MERGE_TOLERANCE = 1e-4


@dataclass
class PathResult:
    """
    Answers of a path, one per waypoint, in order.

    q (W, n): the configuration at each waypoint (on failure the closest one found,
    within ``max_step`` of the previous). success (W,), max_error (W,) [m or rad],
    step (W,): the largest joint change from the previous answer (the first: from the
    seed) [rad or m]. results: the IKResult of each waypoint. cancelled: ``cancel`` ended
    the path early; W is then the number of waypoints solved.
    """

    q: np.ndarray
    success: np.ndarray
    max_error: np.ndarray
    step: np.ndarray
    results: list
    cancelled: bool = False

    @property
    def all_succeeded(self) -> bool:
        """Tell whether every waypoint met the tolerance."""
        return bool(self.success.all())


def solve_path(
    model: RobotModel,
    objectives_per_waypoint: Sequence[Sequence[IKObjective]],
    seed: np.ndarray,
    *,
    max_step=DEFAULT_MAX_STEP,
    allow_branch_change: bool = False,
    max_cartesian_step: Optional[float] = None,
    restarts_per_waypoint: int = DEFAULT_RESTARTS_PER_WAYPOINT,
    settings: SolverSettings = SolverSettings(),
    limits: Optional[JointLimits] = None,
    active_joints: Optional[Sequence[str]] = None,
    random_seed: int = 0,
    cancel: Optional[Callable[[], bool]] = None,
) -> PathResult:
    """
    Solve waypoints as one motion from ``seed`` (n,).

    max_step: the largest change of any joint between consecutive answers, a number or
    one per dof (n,) [rad or m]. allow_branch_change: a waypoint the box cannot solve is
    solved again in global mode from the previous answer (its step may then be large),
    unless it is out of reach or its chain's closed form has no solution inside the limits.
    max_cartesian_step: where a waypoint's targets are more than this [m, or rad for
    rotations] from the previous waypoint's, interpolated targets are solved first.
    restarts_per_waypoint: starts inside the box when the descent from the previous answer
    misses (they replace ``settings.max_restarts`` there). cancel: asked before each
    waypoint and during its solve; True ends the path (``PathResult.cancelled``).

    A stretch of waypoints that cannot be met is answered one of two ways: following the
    targets (each answer the closest configuration within the box of the previous one) or
    holding the configuration that met the waypoint before it (the seed, for a path that
    starts out of reach). The path is solved following, then each such stretch is solved
    again holding, and on from where a waypoint is met again, up to the end of the path or
    to the first answer that is the following one's (the two go on alike from there: a
    7-joint arm that followed may have turned about its shoulder-wrist line and come back
    elsewhere); of the two, the answers that meet more waypoints are kept, the shorter
    motion (joint-space length) when they meet as many. Following keeps up with a path that
    comes back elsewhere; holding comes back the way it left (an arm stretched out of reach
    and back returns on the side it left on, as TRAC-IK and Klampt held at their last answer
    do) and does not wander while nothing can be met. Solving again costs at most one more
    solve per waypoint of the path.
    """
    n = model.num_dofs
    step_limit = np.broadcast_to(np.asarray(max_step, dtype=float), (n,))
    if not (np.isfinite(step_limit).all() and (step_limit > 0).all()):
        raise InvalidSettingsError(f'max_step must be > 0 (rad or m), got {max_step}')
    if max_cartesian_step is not None and not max_cartesian_step > 0:
        raise InvalidSettingsError(f'max_cartesian_step must be > 0, got {max_cartesian_step}')
    limits = limits or JointLimits.from_model(model)
    walk = _Walk(model, [list(o) for o in objectives_per_waypoint], step_limit,
                 replace(settings, max_restarts=restarts_per_waypoint), settings, limits,
                 active_joints, allow_branch_change, max_cartesian_step, random_seed, cancel)
    start = limits.clip(np.asarray(seed, dtype=float))
    results = walk.run(0, start)
    cancelled = walk.cancelled
    budget = len(results)       # waypoints solved again, at most one per waypoint
    first = 0
    while not walk.cancelled and budget > 0:
        stretch = _next_stretch(results, first)
        if stretch is None:
            break
        held = results[stretch - 1].q if stretch > 0 else start
        other = walk.run(stretch, held, hold=True, until=results, budget=budget)
        budget -= len(other)
        end = stretch + len(other)
        # only answers that reach the end or that the others continue can replace them
        joined = end == len(results) or bool(other) and bool(np.all(
            np.abs(results[end].q - other[-1].q) <= step_limit))
        if joined and _better(other, results[stretch:end], held):
            results[stretch:end] = other
        first = stretch + 1
    steps = np.vstack([start] + [r.q for r in results])
    return PathResult(
        q=np.array([r.q for r in results]).reshape(len(results), n),
        success=np.array([r.success for r in results], dtype=bool),
        max_error=np.array([r.max_error for r in results]),
        step=np.abs(np.diff(steps, axis=0)).max(axis=1, initial=0.0),
        results=results,
        cancelled=cancelled,
    )


class _Walk:
    """Solves a path's waypoints in order from a configuration (``solve_path``'s options)."""

    def __init__(self, model, waypoints, step_limit, in_box, settings, limits, active_joints,
                 allow_branch_change, max_cartesian_step, random_seed, cancel):
        self.model, self.waypoints, self.step_limit = model, waypoints, step_limit
        self.in_box, self.settings, self.limits = in_box, settings, limits
        self.active_joints, self.allow_branch_change = active_joints, allow_branch_change
        self.max_cartesian_step, self.random_seed = max_cartesian_step, random_seed
        self.cancel, self.cancelled = cancel, False

    def run(self, first: int, q: np.ndarray, hold: bool = False,
            until: Optional[list] = None, budget: Optional[int] = None) -> list[IKResult]:
        """
        Solve waypoints first, first + 1, ... from q (n,); return their results.

        hold: until a waypoint is met, a missed one keeps q (its result is q's); else
        each answer is the closest configuration found. until: results of another walk
        over the same waypoints: once a waypoint is met (after the held ones), stop where
        this answer is theirs (within MERGE_TOLERANCE: their answers from there on are
        what these would be). budget: at most this many waypoints.
        """
        out = []
        for k in range(first, len(self.waypoints)):
            if budget is not None and len(out) >= budget:
                break
            if self.cancel is not None and self.cancel():
                self.cancelled = True
                break
            result = self._waypoint(k, q, closest_if_missed=not hold)
            if hold and not result.success:
                result = result_at(self.model, self.waypoints[k], q, result.stop_reason,
                                   settings=self.settings, limits=self.limits,
                                   active_joints=self.active_joints)
            hold = hold and not result.success
            out.append(result)
            q = result.q
            if until is not None and not hold and np.all(
                    np.abs(until[k].q - q) <= MERGE_TOLERANCE):
                break
        return out

    def _waypoint(self, k: int, q: np.ndarray, closest_if_missed: bool = True) -> IKResult:
        """
        Solve waypoint k from the previous answer q (n,), interpolating if asked.

        closest_if_missed: see ``solve_near`` (the interpolated targets' answers always
        carry the configuration along, so they are searched in full).
        """
        objectives = self.waypoints[k]
        if self.max_cartesian_step is not None and k > 0:
            for between in _interpolated(self.waypoints[k - 1], objectives,
                                         self.max_cartesian_step):
                q = solve_near(self.model, between, q, self.step_limit, self.in_box,
                               self.limits, self.active_joints, self.random_seed + k,
                               self.cancel).q
        result = solve_near(self.model, objectives, q, self.step_limit, self.in_box,
                            self.limits, self.active_joints, self.random_seed + k, self.cancel,
                            closest_if_missed)
        if not result.success and self.allow_branch_change and not _cannot_be_met(
                self.model, objectives, q, self.limits, self.active_joints, self.settings,
                result):
            other = solve(self.model, objectives, q, mode=GLOBAL, settings=self.settings,
                          limits=self.limits, active_joints=self.active_joints,
                          random_seed=self.random_seed + k, cancel=self.cancel)
            if other.success:
                result = other
        return result


def _next_stretch(results: list, first: int) -> Optional[int]:
    """Return the first waypoint >= first that is missed after one met (or the seed), or None."""
    for k in range(first, len(results)):
        if not results[k].success and (k == 0 or results[k - 1].success):
            return k
    return None


def _better(candidate: list, current: list, start: np.ndarray) -> bool:
    """
    Tell whether ``candidate`` answers beat ``current`` ones for the same waypoints.

    More waypoints met wins; as many: the shorter joint-space motion from ``start`` (n,).
    """
    met = sum(r.success for r in candidate) - sum(r.success for r in current)
    if met != 0:
        return met > 0
    return _length(start, candidate) < _length(start, current)


def _length(start: np.ndarray, results: list) -> float:
    """Return the joint-space length [rad or m] of the motion from start through results."""
    q = np.vstack([start] + [r.q for r in results])
    return float(np.linalg.norm(np.diff(q, axis=0), axis=1).sum())


def solve_near(model: RobotModel, objectives, q: np.ndarray, step_limit,
               settings: SolverSettings,
               limits: JointLimits, active_joints: Optional[Sequence[str]] = None,
               random_seed: int = 0, cancel: Optional[Callable[[], bool]] = None,
               closest_if_missed: bool = True) -> IKResult:
    """
    Solve within q (n,) +- step_limit (a number or (n,)), pulled toward q.

    A descent from q, then, when it misses, one without the pull (near a singular
    configuration the pull can hold a descent short of the target; it goes on from where
    it stopped if its iterations run out), then ``settings.max_restarts`` other starts.

    The starts (the closed form's solutions inside the box, the seed table, then random,
    ``settings.max_restarts`` of them, all inside the box) find the answers a single
    descent misses near singular configurations; being inside the box, they are on the
    same branch. On a miss they also find the configuration closest to the target, but
    replace the pulled descent's only when closer by more than ``settings.tolerance``:
    where the arm can turn without moving the target link (an arm stretched straight), the
    other starts end anywhere along that turn, for a gain far below the tolerance.
    closest_if_missed=False: the caller has no use for a miss's configuration (it holds
    its own), so no search follows the first descent where nothing inside the box can
    meet the target: a target out of reach (``problem_is_unreachable``), or, on a chain
    with a closed form (and ``settings.closed_form``), a pose whose exact solutions all
    lie outside the box.
    """
    problem = objectives if isinstance(objectives, ObjectiveSet) else \
        ObjectiveSet(model, objectives)
    box = limits.around(q, step_limit)
    result = solve(model, problem, q, mode=LOCAL, settings=settings, limits=box,
                   active_joints=active_joints, bias=q, cancel=cancel)
    if result.success or result.stop_reason == CANCELLED or not closest_if_missed and \
            _cannot_be_met(model, problem, q, box, active_joints, settings, result):
        return result
    # near a singular configuration the pull toward q can hold a descent short of the
    # target: the bias is a preference, never the reason for a miss
    plain = solve(model, problem, q, mode=LOCAL, settings=settings, limits=box,
                  active_joints=active_joints, cancel=cancel)
    if plain.stop_reason == MAX_ITERATIONS:
        # still improving when its iterations ran out (a slow descent along a nearly
        # singular direction): go on from where it stopped before trying other starts
        plain = solve(model, problem, plain.q, mode=LOCAL, settings=settings, limits=box,
                      active_joints=active_joints, cancel=cancel)
    if plain.success or _closer(plain, result, settings.tolerance):
        result = plain
    if result.success or settings.max_restarts == 0 or result.stop_reason == CANCELLED:
        return result
    other = solve(model, problem, q, mode=GLOBAL, settings=settings, limits=box,
                  active_joints=active_joints, bias=q, random_seed=random_seed, cancel=cancel)
    return other if other.success or _closer(other, result, settings.tolerance) else result


def _closer(a: IKResult, b: IKResult, tolerance: float) -> bool:
    """Tell whether miss ``a`` is closer to the target than miss ``b`` by more than tolerance."""
    return a.max_error < b.max_error - tolerance


def _cannot_be_met(model: RobotModel, objectives, q: np.ndarray, limits: JointLimits,
                   active_joints: Optional[Sequence[str]], settings: SolverSettings,
                   missed: IKResult) -> bool:
    """
    Tell whether no configuration inside ``limits`` meets objectives a solve from q missed.

    True when the target is out of reach (the miss's stop reason), or, on a chain with a
    closed form (and ``settings.closed_form``), when no exact solution lies inside the
    limits; False when neither is known.
    """
    if missed.stop_reason == UNREACHABLE:
        return True
    if not settings.closed_form:
        return False
    exact = exact_solutions(model, objectives, q, limits=limits, active_joints=active_joints)
    return exact is not None and not len(exact)


def _interpolated(a: list, b: list, max_cartesian_step: float) -> list:
    """
    Targets between two waypoints' objectives, at most ``max_cartesian_step`` apart.

    Points move on straight lines, rotations and axes on great circles. Waypoints whose
    objectives differ in structure (links, kinds, point counts) are not interpolated.
    """
    if len(a) != len(b) or any(_structure(x) != _structure(y) for x, y in zip(a, b)):
        return []
    distance = max(_distance(x, y) for x, y in zip(a, b))
    count = int(np.ceil(distance / max_cartesian_step)) - 1
    return [[_between(x, y, (i + 1) / (count + 1)) for x, y in zip(a, b)]
            for i in range(max(count, 0))]


def _structure(o: IKObjective) -> tuple:
    return (o.link, o.ref_link, o.position, o.rotation, len(o.local_points))


def _angle(u: np.ndarray, v: np.ndarray) -> float:
    return float(np.arctan2(np.linalg.norm(np.cross(u, v)), u @ v))


def _distance(a: IKObjective, b: IKObjective) -> float:
    """Return the largest target displacement [m] or turn [rad] from ``a`` to ``b``."""
    d = 0.0
    if a.position != 'none':
        d = float(np.linalg.norm(b.target_points - a.target_points, axis=1).max())
    if a.rotation == 'fixed':
        d = max(d, float(Rotation.from_matrix(a.target_rotation.T @ b.target_rotation)
                         .magnitude()))
    elif a.rotation == 'axial':
        d = max(d, _angle(a.target_axis, b.target_axis))
    return d


def _between(a: IKObjective, b: IKObjective, t: float) -> IKObjective:
    """``b`` with its targets a fraction ``t`` of the way from ``a``'s (0: a, 1: b)."""
    out = copy.copy(b)          # the interpolation of valid targets is valid
    set_ = object.__setattr__
    if a.position != 'none':
        set_(out, 'target_points', (1 - t) * a.target_points + t * b.target_points)
    if a.rotation == 'fixed':
        turn = Slerp([0.0, 1.0], Rotation.from_matrix([a.target_rotation, b.target_rotation]))
        set_(out, 'target_rotation', turn([t]).as_matrix()[0])
    elif a.rotation == 'axial':
        angle = _angle(a.target_axis, b.target_axis)
        if angle > 1e-12 and np.pi - angle > 1e-9:
            axis = (np.sin((1 - t) * angle) * a.target_axis
                    + np.sin(t * angle) * b.target_axis) / np.sin(angle)
            set_(out, 'target_axis', axis / np.linalg.norm(axis))
    return out
