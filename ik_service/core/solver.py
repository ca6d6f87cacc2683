"""
Damped least-squares IK with Klampt's IKSolver semantics, vectorised over seeds.

The solver advances a batch of configurations together (the seed and, in global mode,
starts from a table of precomputed configurations, then random ones) with
Levenberg-Marquardt steps, run by the compiled ``kernel``. A trial step is accepted only
where it lowers the squared residual, so the error of every row never increases (the
damping grows on rejection and follows the gain ratio on success, which is the line
search: ``kernel._damp_by_gain``). Joint limits are enforced by projecting each trial
into the limits. This module is the policy: modes, where rows start, restarts, the
budgets, and packaging the result.

Units: configurations in radians/metres per dof (the model's ``joint_names`` order);
tolerance in metres or radians (the largest point distance or rotation angle over all
objectives); time budget in seconds of wall clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
import time
from typing import Callable, Optional, Sequence

import numpy as np

from . import kernel
from .bounded_cache import BoundedCache
from .closed_form import ClosedForm
from .errors import (InvalidConfigurationError, InvalidSettingsError, MAX_MAGNITUDE,
                     within_magnitude)
from .limits import JointLimits
from .model import RobotModel
from .objectives import IKObjective, ObjectiveSet, targets_in_root
from .seed_table import SeedTable

CONVERGED = 'converged'
MAX_ITERATIONS = 'max_iterations'
TIMEOUT = 'timeout'
RESTARTS_EXHAUSTED = 'restarts_exhausted'
STALLED = 'stalled'
UNREACHABLE = 'unreachable'
CANCELLED = 'cancelled'

LOCAL, GLOBAL, NEARBY = 'local', 'global', 'nearby'


@dataclass(frozen=True)
class SolverSettings:
    """
    How a solve runs. Every field is checked on construction (InvalidSettingsError).

    tolerance: largest accepted constraint error [m or rad].
    max_iterations: iterations per descent (per seed or restart).
    timeout: wall-clock budget for the whole solve [s].
    max_restarts: starts after the seed, table entries then random (global mode only).
    batch_size: configurations advanced together in global mode.
    initial_damping: Levenberg-Marquardt damping at the start of each descent.
    approximate: on failure return the closest configuration found; when False, a target
        that is provably out of reach fails at once, without descending.
    closed_form: global mode starts from the chain's closed-form solutions where it has
        one (``closed_form.ClosedForm``); False: from the seed table, so that every answer
        is the compiled solver's own (the same bits on every machine: EAIK's closed form
        calls the C library, whose last bits depend on the CPU).
    """

    tolerance: float = 1e-5
    max_iterations: int = 100
    timeout: float = 0.05
    max_restarts: int = 100
    batch_size: int = 4
    initial_damping: float = 1e-3
    approximate: bool = True
    closed_form: bool = True

    def __post_init__(self):
        """Raise InvalidSettingsError naming the first field outside its range."""
        checks = [
            ('tolerance', 1e-12 <= self.tolerance <= 1.0, 'between 1e-12 and 1 (m or rad)'),
            ('max_iterations', 1 <= self.max_iterations <= 1_000_000, 'between 1 and 1e6'),
            ('timeout', 0 < self.timeout <= 3600.0, 'between 0 and 3600 s'),
            ('max_restarts', 0 <= self.max_restarts <= 10_000_000, 'between 0 and 1e7'),
            ('batch_size', 1 <= self.batch_size <= 1024, 'between 1 and 1024'),
            ('initial_damping', 0 < self.initial_damping <= 1e6, 'between 0 and 1e6'),
        ]
        for name, ok, rule in checks:
            value = getattr(self, name)
            if not ok or (isinstance(value, float) and not np.isfinite(value)):
                raise InvalidSettingsError(f'{name} = {value!r} is invalid: it must be {rule}')


@dataclass
class IKResult:
    """Outcome of a solve. ``q`` is the solution, or on failure the best configuration found."""

    success: bool
    q: np.ndarray
    stop_reason: str
    max_error: float
    residual: np.ndarray
    objective_errors: list
    iterations: int
    restarts: int
    elapsed: float
    joints_at_limit: list = field(default_factory=list)
    active_joints: list = field(default_factory=list)

    def __reduce__(self):
        """Pickle with the arrays as bytes: half the time of numpy's own (batch workers)."""
        return _unpickled_result, (
            self.success, self.q.tobytes(), self.stop_reason, self.max_error,
            None if self.residual is None else self.residual.tobytes(),
            self.objective_errors, self.iterations, self.restarts, self.elapsed,
            self.joints_at_limit, self.active_joints)


def _unpickled_result(success, q, stop_reason, max_error, residual, *rest) -> IKResult:
    """Rebuild an IKResult from ``IKResult.__reduce__``'s fields (float64 arrays as bytes)."""
    # bytearray: numpy arrays over it are writable, like the solver's own
    return IKResult(success, np.frombuffer(bytearray(q)), stop_reason, max_error,
                    None if residual is None else np.frombuffer(bytearray(residual)), *rest)


def solve(
    model: RobotModel,
    objectives: Sequence[IKObjective] | ObjectiveSet,
    seed: Optional[np.ndarray] = None,
    *,
    mode: str = LOCAL,
    settings: SolverSettings = SolverSettings(),
    limits: Optional[JointLimits] = None,
    active_joints: Optional[Sequence[str]] = None,
    bias: Optional[np.ndarray] = None,
    max_deviation: Optional[float] = None,
    random_seed: int = 0,
    random_start: bool = False,
    feasible: Optional[Callable[[np.ndarray], bool]] = None,
    cancel: Optional[Callable[[], bool]] = None,
) -> IKResult:
    """
    Solve IK for ``objectives`` starting from ``seed`` (n,), default all zeros.

    mode: 'local' (descend from the seed only), 'global' (the seed and configurations
    from the seed table, then random restarts, within ``settings.max_restarts`` and
    ``settings.timeout``) or 'nearby' (no dof moves more than ``max_deviation`` from
    the seed; the seed is also the bias).
    limits: JointLimits; default the model's. active_joints: names of the dofs the
    solver may move; default every dof that moves a constrained link. bias (n,): the
    null space pulls toward it. random_start: replace the seed by a random configuration.
    feasible: a callable on a full configuration (n,); a configuration that meets the
    tolerance but is not feasible does not count as a solution.
    cancel: a callable asked once per iteration; when it returns True the solve stops
    with stop reason 'cancelled' (the caller left, or the process is shutting down).
    """
    start = time.perf_counter()
    if mode not in (LOCAL, GLOBAL, NEARBY):
        raise InvalidSettingsError(f"mode must be 'local', 'global' or 'nearby', got {mode!r}")
    problem = objectives if isinstance(objectives, ObjectiveSet) else \
        ObjectiveSet(model, objectives)
    n = model.num_dofs
    limits = limits or JointLimits.from_model(model)
    seed = _configuration(seed, n, 'seed') if seed is not None else np.zeros(n)
    bias = _configuration(bias, n, 'bias') if bias is not None else None
    rng = _LazyGenerator(random_seed)

    active = active_dofs(problem, active_joints)

    if random_start:
        idx = active.nonzero()[0]
        seed[idx] = limits.sample(rng, seed, 1)[0, idx]       # seed: this solve's copy
    if mode == NEARBY:
        if max_deviation is None or not np.isfinite(max_deviation) or max_deviation <= 0:
            raise InvalidSettingsError(f'nearby mode needs max_deviation > 0, got {max_deviation}')
        # the box around the seed as given: clipping the seed first would let a joint
        # outside its limits move by its distance to them plus max_deviation
        limits = limits.around(seed, max_deviation)
        empty = [model.joint_names[i] for i in active.nonzero()[0]
                 if limits.lower[i] > limits.upper[i]]
        if empty:
            raise InvalidConfigurationError(
                f'nearby mode: the seed of {", ".join(empty)} is more than max_deviation '
                f'({max_deviation:g}) outside the joint limits, so no configuration within '
                'the limits is near it; give a seed within the limits or a larger deviation')
    plan = _Plan.of(problem, active, limits)
    idx = plan.idx
    if idx.size == 0:
        raise InvalidSettingsError('no active joints move the constrained links')
    kernel.clip_active(seed, idx, plan.box.lower, plan.box.upper)
    if mode == NEARBY:
        bias = seed if bias is None else bias
    # Targets in a reference link that no active dof moves (a base link below the URDF
    # root, a torso held still) are in a frame fixed for this solve: taken into the root
    # frame at the seed once, for the reach test, the closed form and the seed table.
    in_root = [targets_in_root(model, o, seed, idx) for o in problem.objectives]
    # The reach test: at once without approximate answers (nothing is solved), else only
    # for a miss, which it then names (a solve that converges never needs it).
    unreachable = None if settings.approximate else \
        problem_is_unreachable(model, problem, settings.tolerance, in_root)
    if unreachable:
        return _package(model, problem, plan, settings, seed, seed[idx], UNREACHABLE, 0, 0,
                        start)
    descent = _Descent(model, problem, seed, plan, bias, settings, feasible, rng, start, cancel)
    if mode != GLOBAL:
        result = descent.run(seed[idx][None], None, 0)
    else:
        # the seed, then the closed form's or the seed table's starts, then random ones;
        # for a target out of reach too (with joint limits the closest configuration may
        # be in another basin than the seed's)
        def first_starts():
            exact = closed_form_starts(problem, plan, seed, limits, in_root) \
                if settings.closed_form else None
            if exact is not None and len(exact):
                return exact
            table, keys = plan.chain.seed_table
            # Preparing a link's table entries is one-time model work, not charged to the
            # budget.
            descent.start += table.prepare_keys(keys)
            return table.starts(problem, 4 * settings.batch_size, idx, seed, in_root)

        result = descent.run(seed[idx][None], first_starts, settings.max_restarts,
                             rows=1 + min(settings.max_restarts, settings.batch_size - 1))
    if result.stop_reason not in (CONVERGED, CANCELLED) and unreachable is None and \
            problem_is_unreachable(model, problem, settings.tolerance, in_root):
        result.stop_reason = UNREACHABLE
    return result


def result_at(model: RobotModel, objectives: Sequence[IKObjective] | ObjectiveSet,
              q: np.ndarray, reason: str, *, settings: SolverSettings = SolverSettings(),
              limits: Optional[JointLimits] = None,
              active_joints: Optional[Sequence[str]] = None) -> IKResult:
    """
    Return the IKResult of configuration q (n,) as it is, with stop reason ``reason``.

    Its errors, residual and joints at a limit are q's; no descent, 0 iterations. For
    callers that keep a configuration instead of a solve's answer (``solve_path`` holding
    the last one that met its waypoint).
    """
    problem = objectives if isinstance(objectives, ObjectiveSet) else \
        ObjectiveSet(model, objectives)
    plan = _Plan.of(problem, active_dofs(problem, active_joints),
                    limits or JointLimits.from_model(model))
    q = np.array(q, dtype=float)
    return _package(model, problem, plan, settings, q, q[plan.idx], reason, 0, 0,
                    time.perf_counter())


def active_dofs(problem: ObjectiveSet, active_joints: Optional[Sequence[str]]) -> np.ndarray:
    """Return the dofs (n,) a solve moves: the named joints, else those moving its links."""
    if active_joints is None or len(active_joints) == 0:
        return problem.default_active
    return problem.model.dofs_named(active_joints)


def closed_form_of(problem: ObjectiveSet, active_joints: Optional[Sequence[str]] = None,
                   limits: Optional[JointLimits] = None) -> Optional[tuple]:
    """
    Return (ClosedForm, active dofs (n,)) of a one-target problem's chain, or None.

    One objective fixing a point's position and the link's rotation (or, on a planar 2R
    chain, the point's position alone), on a chain of active dofs with a closed form
    (``closed_form.ClosedForm``); looked up once per problem shape, active dofs and
    limits (``_Plan``), as the solve does.
    """
    active = active_dofs(problem, active_joints)
    form = _Plan.of(problem, active, limits or JointLimits.from_model(problem.model)).closed_form
    return None if form is None else (form, active)


def closed_form_starts(problem: ObjectiveSet, plan: '_Plan', seed: np.ndarray,
                       limits: JointLimits, in_root: list) -> Optional[np.ndarray]:
    """
    Return the closed-form solutions of a one-target problem as starts (N, k), or None.

    Applies to a single objective fixing a link's pose, or a point's position on a planar
    2R chain (``ClosedForm.solutions_for``; targets in the root frame or a
    link no active dof moves, posed at the seed: ``in_root``, each objective's
    ``targets_in_root``), when the active dofs moving that link have a closed form (the
    plan's): each exact solution inside the limits, nearest the seed first; (0, k) when
    none is. They meet the tolerance at once, so the descent only checks them. None when
    no closed form applies.
    """
    form = plan.closed_form
    targets = in_root[0] if form is not None else None
    exact = form.solutions_for(problem.objectives[0], *targets, seed) \
        if targets is not None else None
    if exact is None:
        return None
    starts = form.starts(exact, seed, limits, plan.idx)
    return starts if starts is not None else np.empty((0, len(plan.idx)))


def exact_solutions(model: RobotModel, objectives: Sequence[IKObjective] | ObjectiveSet,
                    seed: np.ndarray, *, limits: Optional[JointLimits] = None,
                    active_joints: Optional[Sequence[str]] = None) -> Optional[np.ndarray]:
    """
    Return a one-pose problem's exact solutions inside the limits, (N, n), or None.

    By the closed form of its chain, as a global solve starts from them
    (``closed_form_starts``): one configuration per exact solution inside ``limits``
    (angles a whole number of turns from their value nearest the seed's), nearest the
    seed (n,) first, the other dofs at the seed's values; (0, n) when none lies inside
    them, so that no start inside the limits leads to one. None when no closed form
    applies. A reference link is posed at the seed.
    """
    problem = objectives if isinstance(objectives, ObjectiveSet) else \
        ObjectiveSet(model, objectives)
    seed = _configuration(seed, model.num_dofs, 'seed')
    limits = limits or JointLimits.from_model(model)
    plan = _Plan.of(problem, active_dofs(problem, active_joints), limits)
    if plan.closed_form is None:
        return None
    in_root = [targets_in_root(model, o, seed, plan.idx) for o in problem.objectives]
    starts = closed_form_starts(problem, plan, seed, limits, in_root)
    if starts is None:
        return None
    out = np.tile(seed, (len(starts), 1))
    out[:, plan.idx] = starts
    return out


def problem_is_unreachable(model: RobotModel, problem: ObjectiveSet, tolerance: float,
                           in_root: Optional[list] = None) -> bool:
    """
    Tell whether some fixed point target lies beyond the reach of its link.

    Uses ``RobotModel.reach_bound``: the sum of the link lengths along the chain. Only
    targets in the root frame or in a link that no joint moves are checked, or those
    ``in_root`` gives: per objective, ``targets_in_root`` (for a solve: at its seed).
    """
    for i, o in enumerate(problem.objectives):
        if o.position != 'fixed':
            continue
        targets = in_root[i] if in_root is not None else targets_in_root(model, o)
        if targets is None:
            continue
        lid = problem.objective_links[i]
        for local, target in zip(o.local_points.tolist(), targets[0].tolist()):
            bound = model.reach_bound(lid, local)
            if bound is None:
                continue
            center, radius = bound
            distance_sq = sum((t - c) ** 2 for t, c in zip(target, center.tolist()))
            if distance_sq > (radius + tolerance) ** 2:
                return True
    return False


def _configuration(q, n: int, what: str) -> np.ndarray:
    """Return a copy of configuration q as float64 (n,); InvalidConfigurationError if not one."""
    q = np.array(q, dtype=float)
    if q.shape != (n,):
        raise InvalidConfigurationError(
            f'{what} must have {n} values (one per dof), got shape {q.shape}'
        )
    if not within_magnitude(q.tolist()):
        if not np.isfinite(q).all():
            raise InvalidConfigurationError(f'{what} contains NaN or inf')
        raise InvalidConfigurationError(f'{what} has values beyond +-{MAX_MAGNITUDE:g}')
    return q


class _LazyGenerator:
    """np.random.default_rng(seed), created on first use (creating one costs ~15 us)."""

    def __init__(self, seed: int):
        self._seed, self._rng = seed, None

    def random(self, shape):
        if self._rng is None:
            self._rng = np.random.default_rng(self._seed)
        return self._rng.random(shape)


# A row that has not halved its squared error within this many iterations is restarted
# (when restarts are left): good starts converge in a handful of iterations, and a row
# crawling along a joint limit or into a local minimum rarely recovers. It is also how
# many iterations the kernel runs between two looks at the clock.
PROGRESS_WINDOW = 8
# Random starts drawn at a time, once the seed table's picks are used up.
START_CHUNK = 32


# Descent states of finished solves, kept for later solves of the same shape (rows, m,
# k): allocating a state's dozen small arrays cost a twentieth of a short solve. Bounded:
# SPARE_SHAPES shapes (the least recently used out), SPARE_STATES states each (as many as
# solves ran at once), states of up to SPARE_STATE_SIZE Jacobian values.
SPARE_SHAPES = 16
SPARE_STATES = 4
SPARE_STATE_SIZE = 2048
_spare_states = BoundedCache(SPARE_SHAPES)


def _new_state(rows: int, k: int, m: int) -> tuple:
    """
    Allocate a descent's state: ``kernel.descend``'s arrays, in its order.

    x (R, k), res (R, m), jac (R, m, k), cost (R,), lam (R, 2), born (R,), checkpoint
    (R,), done (R,), converged (R,), best_x (k,), best_res (m,), best_cost (1,), counters
    (5,), damping (2,); ``kernel.start_descent`` sets them up.
    """
    return (np.empty((rows, k)), np.empty((rows, m)), np.empty((rows, m, k)), np.empty(rows),
            np.empty((rows, 2)), np.empty(rows, np.int64), np.empty(rows),
            np.empty(rows, np.bool_), np.empty(rows, np.bool_), np.empty(k), np.empty(m),
            np.empty(1), np.empty(5, np.int64), np.empty(2))


class _Descent:
    """
    One solve's damped least-squares descent over the active dofs, run by the kernel.

    The kernel iterates, restarts ended rows from the starts it is given and keeps the
    best ended row; Python decides what it cannot: the starts (the seed table's picks,
    then random configurations), whether a converged row is feasible, and when the clock
    or the caller ends the solve. A solve makes a handful of Python calls.
    """

    def __init__(self, model, problem, seed, plan, bias, settings, feasible, rng, start,
                 cancel=None):
        self.model, self.problem, self.seed, self.plan = model, problem, seed, plan
        self.idx, self.box = plan.idx, plan.box
        self.seed_x = seed[self.idx]         # (k,): the seed's active values
        self.has_bias = bias is not None
        self.bias = np.ascontiguousarray(bias[self.idx]) if bias is not None else plan.no_bias
        self.settings, self.feasible, self.rng = settings, feasible, rng
        self.cancel = cancel
        self.call_start = self.start = start   # the budget counts from start
        self.chain = problem.chain(self.idx, seed)

    def _random(self, count: int) -> np.ndarray:
        return self.box.sample(self.rng, self.seed_x, count)

    def run(self, x0, starts: Optional[Callable], restarts_allowed: int,
            rows: int = 1) -> IKResult:
        """
        Descend from x0 (1, k) and ``rows - 1`` starts; restart ended rows while allowed.

        starts: returns the first starts to take (table picks, (N, k)) or None; asked only
        when the seed does not end the solve at once. Random configurations follow them.
        """
        s, problem = self.settings, self.problem
        deadline = self.start + s.timeout
        k, m = len(self.idx), problem.num_rows
        # the state of each row (see kernel.descend), a finished solve's if one is spare
        # (list.pop: one solve takes it, whatever the threads); every row waits for a
        # start, and the first start is the seed
        spare = _spare_states.get_or_make((rows, m, k), list)
        try:
            state = spare.pop()
        except IndexError:
            state = _new_state(rows, k, m)
        x, res, jac, cost, lam, born, checkpoint, done, converged, best_x, best_res, \
            best_cost, counters, damping = state
        kernel.start_descent(cost, lam, born, done, converged, best_cost, counters, damping,
                             s.initial_damping)
        pool = np.ascontiguousarray(x0, dtype=float)
        asked_for_starts = starts is None
        found = None
        # The descent from the seed (row 0) always runs to its end (converged, stalled or
        # max_iterations): the answer then never depends on how busy the machine was.
        # The time budget caps what comes after it (restarts).
        while True:
            if counters[3] and time.perf_counter() >= deadline:
                reason = TIMEOUT
                break
            if self.cancel is not None and self.cancel():
                reason = CANCELLED
                break
            outcome = kernel.descend(
                x, res, jac, cost, lam, born, checkpoint, done, converged, best_x, best_res,
                best_cost, counters, pool, PROGRESS_WINDOW, self.box.lower, self.box.upper,
                self.plan.whole_turns, self.bias, self.has_bias, s.tolerance, s.max_iterations,
                PROGRESS_WINDOW, restarts_allowed, damping, problem.blocks, *self.chain,
                *problem.tables)
            if outcome == kernel.CONVERGED:
                found = self._pick(x, converged)
                if found is not None:
                    break
                born[converged] = -1        # not feasible: these rows start again
                counters[3] |= int(converged[0])
            elif outcome == kernel.NEED_STARTS:
                # asked only when the seed did not end the solve at once
                picks = None if asked_for_starts else starts()
                asked_for_starts = True
                deadline = self.start + s.timeout   # starts may move the start (set-up)
                # C order, like every array the kernel was compiled for at set-up (a column
                # selection q[:, idx] is Fortran-ordered, and would compile anew on first
                # use); the picks are this solve's own, clipped into the box in place
                if picks is not None and len(picks):
                    pool = np.ascontiguousarray(picks)
                    kernel.clip_rows(pool, self.box.lower, self.box.upper)
                else:
                    pool = self._random(START_CHUNK)
                counters[2] = 0
            elif outcome == kernel.EXHAUSTED:
                if restarts_allowed:
                    reason = RESTARTS_EXHAUSTED
                else:
                    reason = STALLED if (lam[:, 0] > kernel.MAX_DAMPING).any() else \
                        MAX_ITERATIONS
                break
        total, restarts = int(counters[0]), max(0, int(counters[1]))
        # the answer's arrays are copies: the state goes back to the spares
        if found is not None:
            best_x, best_res, reason = x[found].copy(), res[found].copy(), CONVERGED
        else:
            i = int(np.argmin(cost))
            if cost[i] < best_cost[0]:
                best_x, best_res = x[i].copy(), res[i].copy()
            elif best_cost[0] < np.inf:
                best_x, best_res = best_x.copy(), best_res.copy()
            else:       # cancelled before the seed was evaluated
                best_x, best_res = self.seed_x.copy(), None
        if len(spare) < SPARE_STATES and jac.size <= SPARE_STATE_SIZE:
            spare.append(state)
        return self.result(best_x, best_res, reason, total, restarts)

    def _pick(self, x: np.ndarray, rows: np.ndarray) -> Optional[int]:
        """Return the feasible row nearest the seed among those of x (R, k) marked in rows (R,)."""
        order = np.empty(len(rows), dtype=np.int64)
        count = kernel.nearest_rows(x, rows, self.seed_x, order)
        if self.feasible is None:
            return int(order[0]) if count else None
        for row in order[:count].tolist():
            if self.feasible(self._full(x[row])):
                return row
        return None

    def _full(self, x: np.ndarray) -> np.ndarray:
        q = self.seed.copy()
        q[self.idx] = x
        return q

    def result(self, x, residual, reason, iterations, restarts) -> IKResult:
        """Package the outcome x (k,), angles turned toward the seed; residual: x's, or None."""
        return _package(self.model, self.problem, self.plan, self.settings, self.seed, x,
                        reason, iterations, restarts, self.call_start, residual)


# A joint counts as at its limit within this of a finite bound [rad or m].
AT_LIMIT = 1e-6


def _package(model, problem, plan, settings, seed, x, reason, iterations, restarts, started,
             residual=None) -> IKResult:
    """
    Build the IKResult of active values x (k,) over seed (n,), and their residual (m,).

    The answer is the seed with x's angles turned toward it (``kernel.answer``); its
    residual is computed when None is given.
    """
    q, at_limit = np.empty(len(seed)), np.empty(len(x), dtype=bool)
    turns = plan.turns
    marked = kernel.answer(x, seed, plan.idx, turns.lower, turns.upper, turns.is_angle,
                           AT_LIMIT, q, at_limit)
    if residual is None:
        residual = problem.evaluate(q[None], jacobian=False)[0][0]
    errors = problem.objective_errors(residual)
    max_error = max(map(max, errors))
    names = plan.names
    return IKResult(
        success=reason == CONVERGED and max_error <= settings.tolerance,
        q=q,
        stop_reason=reason,
        max_error=max_error,
        residual=residual,
        objective_errors=errors,
        iterations=int(iterations),
        restarts=int(restarts),
        elapsed=time.perf_counter() - started,
        joints_at_limit=[names[i] for i in np.flatnonzero(at_limit).tolist()] if marked else [],
        active_joints=list(names),
    )


class _Chain:
    """
    What the solves of one problem shape over the same active dofs share, at any limits.

    Kept per layout and active dofs (``ObjectiveSet.plans``). idx (k,): the active dofs,
    ascending; names: their joints; own (k,): the dofs whose whole turn turns their own
    frame alone, one for one (not a mimic joint's leader); no_bias (k,): zeros; plans:
    the ``_Plan`` per limits; seed_table and closed_form: where global solves start.
    """

    def __init__(self, problem: ObjectiveSet, active: np.ndarray):
        o = problem.objectives[0]
        one_point = len(problem.objectives) == 1 and o.position == 'fixed' and \
            len(o.local_points) == 1
        self._model, self._active = problem.model, active
        self._links = problem.constrained_links
        # a one-point objective with its link's rotation fixed (a pose) or free
        self._link = o.link if one_point and o.rotation in ('fixed', 'none') else None
        self._rotation_free = o.rotation == 'none'
        self.idx = idx = active.nonzero()[0]
        self.names = [problem.model.joint_names[i] for i in idx.tolist()]
        self.own = problem.kinematics.turns_only_its_own_frame(idx)
        self.no_bias = np.zeros(len(idx))
        self.plans = BoundedCache(PLANS_PER_CHAIN)

    @cached_property
    def seed_table(self) -> tuple[SeedTable, list]:
        """Return the model's seed table and the keys of the constrained links' entries."""
        table = SeedTable.of(self._model)
        return table, table.keys(self._links, self.idx)

    @cached_property
    def closed_form(self) -> Optional[ClosedForm]:
        """
        Return the closed form of the problem's chain, or None (looked up once).

        For one pose objective, or one point's position on a chain whose closed form
        solves points (``ClosedForm.solves_points``: planar 2R).
        """
        if self._link is None:
            return None
        if self._rotation_free and np.count_nonzero(self._model.dofs_moving_links(
                [self._model.link_id(self._link)]) & self._active) != 2:
            return None         # a point alone has a closed form on 2R chains only
        form = ClosedForm.of(self._model, self._link, self._active)
        return None if form is None or self._rotation_free and not form.solves_points \
            else form


# Limits kept per chain (a path's or a stream's steps each have a box of their own).
PLANS_PER_CHAIN = 16


class _Plan:
    """
    What the solves of one problem shape share: its layout, active dofs and limits.

    A chain's (``_Chain``: idx, names, no_bias, closed_form) under limits, kept per
    chain, so setting up a solve is a lookup. box: the limits over the active dofs;
    turns: the box with ``is_angle`` only where a whole turn of the dof turns its own frame
    alone, one for one (the answer's angles move by whole turns toward the seed, but a
    mimic joint's leader, whose whole turn is not one of its follower, stays as it is);
    whole_turns (k,): those angles that a whole turn back from a bound leaves inside the
    limits (the kernel steps off such bounds).
    """

    def __init__(self, chain: _Chain, limits: JointLimits):
        idx = chain.idx
        self.chain, self.idx, self.names, self.no_bias = chain, idx, chain.names, chain.no_bias
        self.box = JointLimits(limits.lower[idx], limits.upper[idx], limits.is_angle[idx])
        self.turns = self.box if chain.own.all() else \
            JointLimits(self.box.lower, self.box.upper, self.box.is_angle & chain.own)
        self.whole_turns = self.turns.is_angle & (self.box.upper - self.box.lower >= 2 * np.pi)

    @classmethod
    def of(cls, problem: ObjectiveSet, active: np.ndarray, limits: JointLimits) -> '_Plan':
        """Return the plan of a problem's layout over active dofs (n,) and limits."""
        chain = problem.plans.get_or_make(active.tobytes(), lambda: _Chain(problem, active))
        key = (limits.lower.tobytes(), limits.upper.tobytes(), limits.is_angle.tobytes())
        return chain.plans.get_or_make(key, lambda: cls(chain, limits))

    @property
    def closed_form(self) -> Optional[ClosedForm]:
        """Return the chain's closed form, or None (``_Chain.closed_form``)."""
        return self.chain.closed_form


def solve_nearby(
    model: RobotModel, objectives, seed: np.ndarray, max_deviation: float, **kwargs
) -> IKResult:
    """``solve`` in nearby mode: no dof moves more than ``max_deviation`` from ``seed``."""
    return solve(model, objectives, seed, mode=NEARBY, max_deviation=max_deviation, **kwargs)


def solve_global(
    model: RobotModel, objectives, seed: Optional[np.ndarray] = None, **kwargs
) -> IKResult:
    """``solve`` in global mode: the seed, then restarts within count and time budgets."""
    return solve(model, objectives, seed, mode=GLOBAL, **kwargs)


__all__ = [
    'SolverSettings',
    'IKResult',
    'solve',
    'solve_nearby',
    'solve_global',
    'problem_is_unreachable',
    'active_dofs',
    'closed_form_of',
    'exact_solutions',
    'result_at',
]
