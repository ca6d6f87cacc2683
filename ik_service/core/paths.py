"""
Many IK problems in one call: a path solved as one continuous motion, and batches.

``solve_path`` solves waypoints in order, each from the previous answer, inside a box of
``max_step`` around it (per joint or for all) with the previous answer as the bias: the
descent cannot jump to another solution branch, and where a stretch is out of reach the
answers stay continuous (the closest configuration within the box) and rejoin the path
when it comes back. ``max_cartesian_step`` solves interpolated targets first where
consecutive waypoints are far apart, carrying the configuration along; only the
waypoints' answers are returned.

``solve_batch`` solves independent problems, optionally on forked worker processes (a
solve is mostly Python, which holds the GIL: two threads measured slower than one,
``bench/batch_bench.py``). Each answer is what ``solve`` gives for that problem alone,
whatever the order, batch size or worker count: problems share nothing, and each uses the
same options.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
import copy
from dataclasses import dataclass, replace
import gc
import multiprocessing
import signal
import threading
from typing import Callable, Optional, Sequence

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from .errors import InvalidSettingsError
from .limits import JointLimits
from .model import RobotModel
from .objectives import IKObjective, ObjectiveSet
from .solver import CANCELLED, GLOBAL, IKResult, LOCAL, solve, SolverSettings

# A joint step larger than this between consecutive waypoints [rad or m] is a branch
# change unless the caller allows one (also the default largest step).
DEFAULT_MAX_STEP = 0.5
# Starts inside the box after a failed descent from the previous answer: enough near
# singular configurations, and a bounded cost per unreachable waypoint.
DEFAULT_RESTARTS_PER_WAYPOINT = 16


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
    solved again in global mode from the previous answer (its step may then be large).
    max_cartesian_step: where a waypoint's targets are more than this [m, or rad for
    rotations] from the previous waypoint's, interpolated targets are solved first.
    restarts_per_waypoint: starts inside the box when the descent from the previous answer
    misses (they replace ``settings.max_restarts`` there). cancel: asked before each
    waypoint and during its solve; True ends the path (``PathResult.cancelled``).
    """
    n = model.num_dofs
    step_limit = np.broadcast_to(np.asarray(max_step, dtype=float), (n,))
    if not (np.isfinite(step_limit).all() and (step_limit > 0).all()):
        raise InvalidSettingsError(f'max_step must be > 0 (rad or m), got {max_step}')
    if max_cartesian_step is not None and not max_cartesian_step > 0:
        raise InvalidSettingsError(f'max_cartesian_step must be > 0, got {max_cartesian_step}')
    limits = limits or JointLimits.from_model(model)
    in_box = replace(settings, max_restarts=restarts_per_waypoint)
    q = start = limits.clip(np.asarray(seed, dtype=float))
    previous: Optional[list] = None
    results, cancelled = [], False
    for k, objectives in enumerate(objectives_per_waypoint):
        if cancel is not None and cancel():
            cancelled = True
            break
        objectives = list(objectives)
        if max_cartesian_step is not None and previous is not None:
            for between in _interpolated(previous, objectives, max_cartesian_step):
                q = solve_near(model, between, q, step_limit, in_box, limits,
                               active_joints, random_seed + k, cancel).q
        result = solve_near(model, objectives, q, step_limit, in_box, limits,
                            active_joints, random_seed + k, cancel)
        if not result.success and allow_branch_change:
            other = solve(model, objectives, q, mode=GLOBAL, settings=settings, limits=limits,
                          active_joints=active_joints, random_seed=random_seed + k,
                          cancel=cancel)
            if other.success:
                result = other
        results.append(result)
        q, previous = result.q, objectives
    starts = np.vstack([start] + [r.q for r in results])
    return PathResult(
        q=np.array([r.q for r in results]).reshape(len(results), n),
        success=np.array([r.success for r in results], dtype=bool),
        max_error=np.array([r.max_error for r in results]),
        step=np.abs(np.diff(starts, axis=0)).max(axis=1, initial=0.0),
        results=results,
        cancelled=cancelled,
    )


def solve_near(model: RobotModel, objectives, q: np.ndarray, step_limit,
               settings: SolverSettings,
               limits: JointLimits, active_joints: Optional[Sequence[str]] = None,
               random_seed: int = 0, cancel: Optional[Callable[[], bool]] = None) -> IKResult:
    """
    Solve within q (n,) +- step_limit (a number or (n,)), pulled toward q.

    A descent from q, then, when it misses, ``settings.max_restarts`` other starts.

    The starts (seed table, then random, ``settings.max_restarts`` of them, all inside the
    box) find the answers a single descent misses near singular configurations; being
    inside the box, they are on the same branch.
    """
    box = limits.around(q, step_limit)
    result = solve(model, objectives, q, mode=LOCAL, settings=settings, limits=box,
                   active_joints=active_joints, bias=q, cancel=cancel)
    if result.success or settings.max_restarts == 0 or result.stop_reason == CANCELLED:
        return result
    other = solve(model, objectives, q, mode=GLOBAL, settings=settings, limits=box,
                  active_joints=active_joints, bias=q, random_seed=random_seed, cancel=cancel)
    return other if other.success or other.max_error < result.max_error else result


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


def solve_batch(
    model: RobotModel,
    objectives_per_target: Sequence[Sequence[IKObjective] | ObjectiveSet],
    seeds: Optional[np.ndarray] = None,
    *,
    workers: int = 1,
    **options,
) -> list[IKResult]:
    """
    Solve independent problems, on ``workers`` processes.

    seeds: (T, n), one per problem, or None (zeros). ``options`` are those of ``solve``
    (mode, settings, limits, random_seed, ...), the same for every problem. Returns one
    IKResult per problem, in order, each what ``solve`` returns for it alone (a time
    budget that ends a solve is the one exception: it depends on the machine's load).
    With workers > 1 the problems go to forked worker processes in contiguous chunks (a
    solve is mostly Python, so threads would share one core); ``cancel`` is asked between
    chunks there, and the problems left are answered cancelled.
    """
    problems = list(objectives_per_target)
    if seeds is None:
        seeds = np.zeros((len(problems), model.num_dofs))
    seeds = np.asarray(seeds, dtype=float)
    if seeds.shape != (len(problems), model.num_dofs):
        raise InvalidSettingsError(
            f'seeds must be ({len(problems)}, {model.num_dofs}), one per problem; got '
            f'{seeds.shape}')
    workers = max(1, min(workers, len(problems) or 1))
    if workers == 1 or 'fork' not in multiprocessing.get_all_start_methods():
        return [solve(model, p, s, **options) for p, s in zip(problems, seeds)]
    cancel = options.pop('cancel', None)
    chunks = [c for c in np.array_split(np.arange(len(problems)), workers * CHUNKS_PER_WORKER)
              if len(c)]
    global _BATCH
    results: list[IKResult] = []
    # The results coming back are many small objects: collections over the caller's heap
    # while they arrive would take the workers' cores (the batch ran 15-20% slower)
    collecting = gc.isenabled()
    gc.disable()
    with _BATCH_LOCK:       # forked workers read the batch from the memory they inherit
        _BATCH = (model, problems, seeds, options)
        try:
            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context('fork'),
                                     initializer=_set_up_worker) as pool:
                futures = [pool.submit(_solve_chunk, int(c[0]), int(c[-1]) + 1)
                           for c in chunks]
                for future in futures:
                    if cancel is not None and cancel():
                        pool.shutdown(cancel_futures=True)
                        break
                    results.extend(future.result())
        finally:
            _BATCH = None
            if collecting:
                gc.enable()
    # what a cancel left: each problem answered as solve answers when cancelled at once
    return results + [solve(model, problems[k], seeds[k], cancel=cancel, **options)
                      for k in range(len(results), len(problems))]


# Chunks per worker process: enough to even out slow problems, few enough that handing
# results back stays cheap.
CHUNKS_PER_WORKER = 4
_BATCH: Optional[tuple] = None
_BATCH_LOCK = threading.Lock()


def _set_up_worker() -> None:
    """
    Set up a forked worker: Ctrl-C left to the parent, inherited objects left alone.

    The parent handles Ctrl-C; the worker dies with it instead of printing a traceback.
    What the worker inherits is frozen out of the garbage collector's reach (a collection
    would write to every inherited object, copying the parent's heap page by page), and
    the collector runs again on what the worker makes (the parent paused it).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    gc.freeze()
    gc.enable()


def _solve_chunk(first: int, end: int) -> list[IKResult]:
    """Solve problems first..end-1 of the batch this worker was forked with."""
    model, problems, seeds, options = _BATCH
    return [solve(model, problems[k], seeds[k], **options) for k in range(first, end)]
