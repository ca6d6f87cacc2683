"""
Damped least-squares IK with Klampt's IKSolver semantics, vectorised over seeds.

The solver advances a batch of configurations together (the seed and, in global mode,
starts from a table of precomputed configurations, then random ones) with
Levenberg-Marquardt steps. A trial step is accepted only where it
lowers the squared residual, so the error of every row never increases (the damping
grows on rejection and shrinks on success, which is the line search). Joint limits are
enforced by projecting each trial into the limits. Each evaluation fills a
``NormalEquations`` batch, through ``PoseKernel`` for a single point or pose target (its
rotation rows are 2 sin(angle / 2) axis, which grows with the angle just as the log
does) and through ``ObjectiveSet`` for everything else.

Units: configurations in radians/metres per dof (the model's ``joint_names`` order);
tolerance in metres or radians (the largest point distance or rotation angle over all
objectives); time budget in seconds of wall clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
import math
import time
from typing import Callable, Optional, Sequence

import numpy as np

from .buffer_pool import BufferPool
from .errors import (InvalidConfigurationError, InvalidSettingsError, MAX_MAGNITUDE,
                     within_magnitude)
from .limits import JointLimits
from .model import RobotModel
from .normal_equations import NormalEquations
from .objectives import IKObjective, ObjectiveSet, targets_in_root, targets_in_still_frames
from .pose_kernel import PoseKernel
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
    """

    tolerance: float = 1e-5
    max_iterations: int = 100
    timeout: float = 0.05
    max_restarts: int = 100
    batch_size: int = 8
    initial_damping: float = 1e-3
    approximate: bool = True

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

    if active_joints is None or len(active_joints) == 0:
        active = problem.default_active
    else:
        active = np.zeros(n, dtype=bool)
        active[[model.joint_id(j) for j in active_joints]] = True
    idx = active.nonzero()[0]
    if idx.size == 0:
        raise InvalidSettingsError('no active joints move the constrained links')

    if random_start:
        seed = seed.copy()
        seed[idx] = limits.sample(rng, seed, 1)[0, idx]
    if mode == NEARBY:
        if max_deviation is None or not np.isfinite(max_deviation) or max_deviation <= 0:
            raise InvalidSettingsError(f'nearby mode needs max_deviation > 0, got {max_deviation}')
        # the box around the seed as given: clipping the seed first would let a joint
        # outside its limits move by its distance to them plus max_deviation
        limits = limits.around(seed, max_deviation)
        empty = [model.joint_names[i] for i in idx if limits.lower[i] > limits.upper[i]]
        if empty:
            raise InvalidConfigurationError(
                f'nearby mode: the seed of {", ".join(empty)} is more than max_deviation '
                f'({max_deviation:g}) outside the joint limits, so no configuration within '
                'the limits is near it; give a seed within the limits or a larger deviation')
    seed = np.where(active, limits.clip(seed), seed)
    if mode == NEARBY:
        bias = seed if bias is None else bias
    # Reference links that no active joint moves are frames fixed for this solve: their
    # targets are put in the root frame once, and every root-frame mechanism (the pose
    # kernel, the seed table's ranking, the reach test) applies to them.
    requested = problem
    problem, turned = targets_in_still_frames(problem, seed, active)
    unreachable = problem_is_unreachable(model, problem, settings.tolerance)

    descent = _Descent(model, problem, seed, idx, limits, bias, settings, feasible, rng, start,
                       cancel)
    failed_because = UNREACHABLE if unreachable else None
    if unreachable and not settings.approximate:
        result = descent.seed_result(UNREACHABLE)
    elif mode != GLOBAL:
        result = descent.run(seed[idx][None], None, 0, reason_if_failed=failed_because)
    else:
        # Out of reach too: with joint limits the closest configuration may be in another
        # basin than the seed's, so global mode searches for it within the budget.
        rows = 1 + min(settings.max_restarts, settings.batch_size - 1)
        table = SeedTable.of(model)
        # Preparing a link's table entries is one-time model work, not charged to the budget.
        descent.start += table.prepare(problem.constrained_links)
        queue = table.starts(problem, 4 * settings.batch_size, idx)
        result = descent.run(seed[idx][None], queue, settings.max_restarts, rows=rows,
                             reason_if_failed=failed_because)
    if turned:          # residual rows in the frames they were asked in
        result.residual = requested.evaluate(result.q[None], jacobian=False)[0][0]
        result.objective_errors = requested.objective_errors(result.residual)
    return result


def problem_is_unreachable(model: RobotModel, problem: ObjectiveSet, tolerance: float) -> bool:
    """
    Tell whether some fixed point target lies beyond the reach of its link.

    Uses ``RobotModel.reach_bound``: the sum of the link lengths along the chain. Only
    targets in the root frame (or in a link that no joint moves) are checked.
    """
    for o in problem.objectives:
        in_root = targets_in_root(model, o) if o.position == 'fixed' else None
        if in_root is None:
            continue
        lid = model.link_id(o.link)
        for local, target in zip(o.local_points.tolist(), in_root[0].tolist()):
            bound = model.reach_bound(lid, local)
            if bound is None:
                continue
            center, radius = bound
            distance_sq = sum((t - c) ** 2 for t, c in zip(target, center.tolist()))
            if distance_sq > (radius + tolerance) ** 2:
                return True
    return False


def _configuration(q, n: int, what: str) -> np.ndarray:
    q = np.asarray(q, dtype=float)
    if q.shape != (n,):
        raise InvalidConfigurationError(
            f'{what} must have {n} values (one per dof), got shape {q.shape}'
        )
    if not within_magnitude(q.tolist()):
        if not np.isfinite(q).all():
            raise InvalidConfigurationError(f'{what} contains NaN or inf')
        raise InvalidConfigurationError(f'{what} has values beyond +-{MAX_MAGNITUDE:g}')
    return q


try:
    # The batched LAPACK solver behind np.linalg.solve (solve1: one right-hand side per
    # system), which checks and converts its arguments on every call: that costs as much
    # as the solve itself here. A singular system gives NaN in its row only (with a
    # RuntimeWarning; the damping's floor makes that practically impossible).
    from numpy.linalg._umath_linalg import solve1 as _lapack_solve
except ImportError:     # numpy moved it: the public function, with the same contract
    def _lapack_solve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        try:
            return np.linalg.solve(a, b[..., None])[..., 0]
        except np.linalg.LinAlgError:
            return np.full(b.shape, np.nan)


def _damped_solve(damped: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """
    Solve (H + lambda I) x = rhs per row; damped H + lambda I (B, k, k), rhs (B, k) -> (B, k).

    A row whose system is singular (lambda negligible next to a badly scaled H) gets NaN:
    its trial configuration then has a NaN cost, is rejected, and its damping grows.
    """
    return _lapack_solve(damped, rhs)


class _LazyGenerator:
    """np.random.default_rng(seed), created on first use (creating one costs ~15 us)."""

    def __init__(self, seed: int):
        self._seed, self._rng = seed, None

    def random(self, shape):
        if self._rng is None:
            self._rng = np.random.default_rng(self._seed)
        return self._rng.random(shape)


# The descent's NormalEquations batches between solves, by (rows, k, m).
_EQUATIONS = BufferPool()
# A row that has not halved its squared error within this many iterations is restarted
# (when restarts are left): good starts converge in a handful of iterations, and a row
# crawling along a joint limit or into a local minimum rarely recovers.
PROGRESS_WINDOW = 8
# Damping beyond this (after repeated rejected steps) means the row cannot move.
MAX_DAMPING = 1e8


class _Descent:
    """The batched Levenberg-Marquardt loop of one solve, over the active dofs."""

    def __init__(self, model, problem, seed, idx, limits, bias, settings, feasible, rng, start,
                 cancel=None):
        self.model, self.problem, self.seed, self.idx = model, problem, seed, idx
        self._all_active = len(idx) == model.num_dofs
        self.limits = limits
        self.bias = None if bias is None else bias[idx]
        self.settings, self.feasible, self.rng = settings, feasible, rng
        self.cancel = cancel
        self.call_start = self.start = start   # the budget counts from start
        kin = problem.kinematics
        identity = kin.frame_dofs is not None and kin.frame_dofs.tolist() == idx.tolist()
        self._columns = False if identity else kin.dof_map[:, idx]
        self._kernel = PoseKernel.for_problem(problem, self._columns)

    @cached_property
    def box(self) -> JointLimits:
        """Return the limits of the active dofs (k,): the box the descent moves in."""
        if self._all_active:
            return self.limits
        idx, limits = self.idx, self.limits
        return JointLimits(limits.lower[idx], limits.upper[idx], limits.is_angle[idx])

    def residual_at(self, q: np.ndarray) -> np.ndarray:
        """Residual (m,) at a full configuration q (n,)."""
        if self._kernel is None:
            return self.problem.evaluate(q[None], jacobian=False)[0][0]
        return self._kernel.residual(self.problem.kinematics.frame_values(q[None]))[0]

    def evaluate(self, eq: NormalEquations) -> None:
        """Fill the residual and normal-equation terms of ``eq`` at its active values x."""
        self.evaluate_residual(eq)
        self.evaluate_jacobian(eq)

    def evaluate_residual(self, eq: NormalEquations) -> None:
        """
        Fill at least the residual and cost of ``eq`` at its active values x.

        Through the pose kernel the Jacobian terms wait for ``evaluate_jacobian``, so that
        a batch in which a row converges never computes them; the general code fills
        everything at once.
        """
        if self._kernel is not None and self._columns is False:
            self._kernel.evaluate_residual(eq.x.T, eq)        # the frames are the active dofs
            return
        if self._all_active:
            q = eq.x
        else:
            q = np.repeat(self.seed[None], len(eq), axis=0)
            q[:, self.idx] = eq.x
        if self._kernel is not None:
            self._kernel.evaluate_residual(self.problem.kinematics.frame_values(q), eq)
        else:
            eq.set_from_jacobian(*self.problem.evaluate(q, True, self._columns))

    def evaluate_jacobian(self, eq: NormalEquations) -> None:
        """Complete ``eq`` after ``evaluate_residual``."""
        if self._kernel is not None:
            self._kernel.evaluate_jacobian(eq)

    def _batch(self, x: np.ndarray) -> NormalEquations:
        """Evaluate active values x (B, k) into a new batch."""
        eq = NormalEquations(len(x), len(self.idx), self.problem.num_rows)
        eq.x[...] = x
        self.evaluate(eq)
        return eq

    def _starts(self, queue, count: int) -> tuple[np.ndarray, Optional[np.ndarray]]:
        """Take ``count`` new starting configurations: table picks first, then random."""
        if queue is not None and len(queue):
            picked, queue = queue[:count], queue[count:]
            if len(picked) == count:
                return self.box.clip(picked), queue
            return np.vstack([self.box.clip(picked), self._random(count - len(picked))]), queue
        return self._random(count), queue

    def _random(self, count: int) -> np.ndarray:
        return self.box.sample(self.rng, self.seed[self.idx], count)

    def run(self, x, queue, restarts_allowed: int, rows: int = 1,
            reason_if_failed: Optional[str] = None) -> IKResult:
        """Descend from x (1, k) plus ``rows - 1`` starts; restart stalled rows while allowed."""
        shape = (rows, len(self.idx), self.problem.num_rows)
        state = _EQUATIONS.take(shape, lambda: NormalEquations(*shape))
        trial = _EQUATIONS.take(shape, lambda: NormalEquations(*shape))
        try:
            return self._descend(state, trial, x, queue, restarts_allowed, reason_if_failed)
        finally:    # the result holds copies: the arrays can serve the next solve
            _EQUATIONS.give(shape, state)
            _EQUATIONS.give(shape, trial)
            self._release_kernel()

    def _descend(self, state: NormalEquations, trial: NormalEquations, x, queue,
                 restarts_allowed: int, reason_if_failed: Optional[str]) -> IKResult:
        """Run the loop of ``run`` in the batches ``state`` and ``trial`` (overwritten)."""
        s = self.settings
        deadline = self.start + s.timeout
        rows, k = state.x.shape
        restarts = rows - 1
        problem = self.problem
        state.x[0] = x[0]
        if rows > 1:
            state.x[1:], queue = self._starts(queue, rows - 1)
        self.evaluate(state)
        eye = np.eye(k)
        lo, hi = self.box.lower, self.box.upper
        # Damping never drops below 1e-12 of the scale of J^T J (at the seed), so that
        # H + lambda I stays invertible on badly scaled robots (links kilometres long).
        floor = max(1e-9, 1e-12 * float(state.h[0].trace()))
        lam = np.full(rows, max(s.initial_damping, floor))
        born = np.zeros(rows, dtype=int)         # iteration at which each row (re)started
        done = np.zeros(rows, dtype=bool)
        checkpoint = state.cost.copy()
        # The kernel's rotation rows have length 2 sin(angle / 2) < angle: a row meets the
        # tolerance in angle when they are within 2 sin(tolerance / 2), a hair less.
        tolerance = s.tolerance if self._kernel is None else 2.0 * math.sin(0.5 * s.tolerance)
        # A row can meet the tolerance only if its squared residual is at most this.
        cost_bound = problem.num_blocks * tolerance ** 2
        self._best = (np.inf, state.x[0].copy(), state.r[0].copy())
        total = oldest = 0          # iterations so far; when the oldest row (re)started
        any_done = False

        def converged(eq: NormalEquations) -> Optional[int]:
            """Return the row of eq that meets the tolerance (see _pick), or None."""
            # rarely more than one candidate, once per solve: plain floats are cheapest
            near = [i for i, c in enumerate(eq.cost.tolist()) if c <= cost_bound]  # no NaN
            ok = [i for i in near if not done[i]
                  and max(problem.row_block_errors(eq.r[i])) <= tolerance]
            return self._pick(eq.x, ok) if ok else None

        found, found_in = converged(state), state
        # The descent from the seed (row 0) always runs to its end (converged, stalled or
        # max_iterations): the answer then never depends on how busy the machine was.
        # The time budget caps what comes after it (restarts).
        seed_descended = False
        while found is None:
            if seed_descended and time.perf_counter() >= deadline:
                reason = TIMEOUT
                break
            if self.cancel is not None and self.cancel():
                reason = CANCELLED
                break
            # Rows that cannot progress: restart them (global) or retire them.
            stalled = None
            periodic = total > 0 and total % PROGRESS_WINDOW == 0
            if total - oldest >= s.max_iterations or periodic and lam.max() > MAX_DAMPING:
                stalled = ((total - born) >= s.max_iterations) | (lam > MAX_DAMPING)
            if periodic and restarts_allowed > restarts:
                window = (total - born) >= PROGRESS_WINDOW
                slow = window & (state.cost > 0.5 * checkpoint)
                stalled = slow if stalled is None else stalled | slow
                checkpoint = np.where(window, state.cost, checkpoint)
            if stalled is not None and stalled[0]:
                seed_descended = True
            if stalled is not None and (stalled & ~done).any():
                stalled &= ~done
                self._remember_best(state, stalled)
                fresh = np.flatnonzero(stalled)[: max(0, restarts_allowed - restarts)]
                if len(fresh):
                    starts, queue = self._starts(queue, len(fresh))
                    state.data[fresh] = self._batch(starts).data
                    lam[fresh], born[fresh] = max(s.initial_damping, floor), total
                    oldest = int(born.min())
                    checkpoint[fresh] = state.cost[fresh]
                    restarts += len(fresh)
                    stalled[fresh] = False
                done |= stalled
                any_done = bool(done.any())
                if done.all():
                    if restarts_allowed:
                        reason = RESTARTS_EXHAUSTED
                    else:
                        reason = STALLED if (lam > MAX_DAMPING).any() else MAX_ITERATIONS
                    break
            # One damped Gauss-Newton step per row, projected into the limits:
            # (H + lambda I) step = -g, with g = J^T r (plus the pull toward the bias).
            damped = state.h + lam[:, None, None] * eye
            if self.bias is None:
                np.subtract(state.x, _damped_solve(damped, state.g), out=trial.x)
            else:
                pull = 0.2 * (self.bias - state.x)
                g = state.g + (state.h @ pull[:, :, None])[..., 0]
                np.subtract(state.x + pull, _damped_solve(damped, g), out=trial.x)
            np.minimum(np.maximum(trial.x, lo, out=trial.x), hi, out=trial.x)   # limits
            self.evaluate_residual(trial)
            total += 1
            found, found_in = converged(trial), trial
            if found is not None:
                break
            self.evaluate_jacobian(trial)
            accept = trial.cost < state.cost
            if any_done:
                accept &= ~done
            state.take(trial, accept)
            # capped: a retired row keeps being rejected, and an infinite damping would
            # make its H + lambda I NaN (inf * 0 off the diagonal)
            lam = np.minimum(np.maximum(lam * np.where(accept, 0.1, 10.0), floor),
                             100.0 * MAX_DAMPING)
        if found is not None:
            return self.result(found_in.x[found].copy(), found_in.r[found].copy(), CONVERGED,
                               total, restarts)
        if reason_if_failed is not None:
            reason = reason_if_failed
        self._remember_best(state, np.ones(len(state), dtype=bool))
        _, best_x, best_r = self._best
        return self.result(best_x, best_r, reason, total, restarts)

    def _remember_best(self, eq: NormalEquations, rows: np.ndarray) -> None:
        """Keep the lowest-error configuration seen, before rows are replaced or at the end."""
        masked = np.where(rows, eq.cost, np.inf)
        i = int(np.argmin(masked))
        if masked[i] < self._best[0]:
            self._best = (masked[i], eq.x[i].copy(), eq.r[i].copy())

    def _pick(self, x, rows: list) -> Optional[int]:
        """Among rows of x that meet the tolerance, the feasible one nearest the seed."""
        if len(rows) > 1:
            distance = np.sum((x[rows] - self.seed[self.idx]) ** 2, axis=1)
            rows = [rows[i] for i in np.argsort(distance, kind='stable').tolist()]
        for row in rows:
            if self.feasible is None or self.feasible(self._full(x[row])):
                return row
        return None

    def _full(self, x: np.ndarray) -> np.ndarray:
        q = self.seed.copy()
        q[self.idx] = x
        return q

    def result(self, x, residual, reason, iterations, restarts) -> IKResult:
        """Wrap angles toward the seed and package the outcome; residual: a descent row."""
        if self._kernel is not None:
            residual = self._kernel.reported(residual)
        wrapped = self.box.wrap_near(x, self.seed[self.idx])
        q = self._full(wrapped)
        if self.model.has_mimic and not np.array_equal(wrapped, x):
            # a 2 pi shift of a mimic leader moves its followers by multiplier * 2 pi
            residual = self.residual_at(q)
        return self._package(q, residual, reason, iterations, restarts)

    def seed_result(self, reason: str) -> IKResult:
        """Package the seed itself as the outcome, nothing solved (a target out of reach)."""
        try:
            return self._package(self.seed, self.residual_at(self.seed), reason, 0, 0)
        finally:
            self._release_kernel()

    def _release_kernel(self) -> None:
        if self._kernel is not None:
            self._kernel.release()

    def _package(self, q, residual, reason, iterations, restarts) -> IKResult:
        """Build the IKResult of configuration q (n,) and its residual (m,)."""
        errors = self.problem.objective_errors(residual)
        max_error = max(max(e) for e in errors)
        names, idx = self.model.joint_names, self.idx.tolist()
        return IKResult(
            success=reason == CONVERGED and max_error <= self.settings.tolerance,
            q=q,
            stop_reason=reason,
            max_error=max_error,
            residual=residual,
            objective_errors=errors,
            iterations=int(iterations),
            restarts=int(restarts),
            elapsed=time.perf_counter() - self.call_start,
            joints_at_limit=[names[i] for i in self.limits.at_limit(q) if i in idx],
            active_joints=[names[i] for i in idx],
        )


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
]
