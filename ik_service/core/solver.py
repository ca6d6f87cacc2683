"""
Damped least-squares IK with Klampt's IKSolver semantics, vectorised over seeds.

The solver advances a batch of configurations together (the seed and, in global mode,
random restarts) with Levenberg-Marquardt steps. A trial step is accepted only where it
lowers the squared residual, so the error of every row never increases (the damping
grows on rejection and shrinks on success, which is the line search). Joint limits are
enforced by projecting each trial into the limits.

Units: configurations in radians/metres per dof (the model's ``joint_names`` order);
tolerance in metres or radians (the largest point distance or rotation angle over all
objectives); time budget in seconds of wall clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
import time
from typing import Callable, Optional, Sequence

import numpy as np

from .errors import InvalidConfigurationError, InvalidSettingsError
from .limits import JointLimits
from .model import RobotModel
from .objectives import IKObjective, ObjectiveSet

CONVERGED = 'converged'
MAX_ITERATIONS = 'max_iterations'
TIMEOUT = 'timeout'
RESTARTS_EXHAUSTED = 'restarts_exhausted'
STALLED = 'stalled'
UNREACHABLE = 'unreachable'

LOCAL, GLOBAL, NEARBY = 'local', 'global', 'nearby'


@dataclass(frozen=True)
class SolverSettings:
    """
    How a solve runs. Every field is validated by ``validate``.

    tolerance: largest accepted constraint error [m or rad].
    max_iterations: iterations per descent (per seed or restart).
    timeout: wall-clock budget for the whole solve [s].
    max_restarts: random restarts after the seed (global mode only).
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
    initial_damping: float = 1e-2
    approximate: bool = True

    def validate(self) -> 'SolverSettings':
        """Return self, or raise InvalidSettingsError naming the bad field."""
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
        return self


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
) -> IKResult:
    """
    Solve IK for ``objectives`` starting from ``seed`` (n,), default all zeros.

    mode: 'local' (descend from the seed only), 'global' (then random restarts within
    ``settings.max_restarts`` and ``settings.timeout``) or 'nearby' (no dof moves more
    than ``max_deviation`` from the seed; the seed is also the bias).
    limits: JointLimits; default the model's. active_joints: names of the dofs the
    solver may move; default every dof that moves a constrained link. bias (n,): the
    null space pulls toward it. random_start: replace the seed by a random configuration.
    feasible: a callable on a full configuration (n,); a configuration that meets the
    tolerance but is not feasible does not count as a solution.
    """
    start = time.perf_counter()
    settings = settings.validate()
    problem = (
        objectives if isinstance(objectives, ObjectiveSet) else ObjectiveSet(model, objectives)
    )
    n = model.num_dofs
    limits = limits or JointLimits.from_model(model)
    seed = _configuration(seed, n, 'seed') if seed is not None else np.zeros(n)
    bias = _configuration(bias, n, 'bias') if bias is not None else None
    rng = np.random.default_rng(random_seed)

    if active_joints is None or len(active_joints) == 0:
        active = problem.default_active
    else:
        active = np.zeros(n, dtype=bool)
        active[[model.joint_id(j) for j in active_joints]] = True
    idx = np.flatnonzero(active)
    if idx.size == 0:
        raise InvalidSettingsError('no active joints move the constrained links')

    if mode not in (LOCAL, GLOBAL, NEARBY):
        raise InvalidSettingsError(f"mode must be 'local', 'global' or 'nearby', got {mode!r}")
    if random_start:
        seed = seed.copy()
        seed[idx] = limits.sample(rng, seed, 1)[0, idx]
    seed = np.where(active, limits.clip(seed), seed)
    if mode == NEARBY:
        if max_deviation is None or not np.isfinite(max_deviation) or max_deviation <= 0:
            raise InvalidSettingsError(f'nearby mode needs max_deviation > 0, got {max_deviation}')
        limits = limits.around(seed, max_deviation)
        bias = seed if bias is None else bias
    restarts_allowed = settings.max_restarts if mode == GLOBAL else 0

    descent = _Descent(model, problem, seed, idx, limits, bias, settings, feasible)
    if problem_is_unreachable(model, problem, settings.tolerance) and not settings.approximate:
        return descent.result(seed, UNREACHABLE, 0, 0, start, limits)

    rows = 1 + min(restarts_allowed, settings.batch_size - 1)
    x0 = np.repeat(seed[idx][None], rows, axis=0)
    if rows > 1:
        x0[1:] = limits.sample(rng, seed, rows - 1)[:, idx]
    return descent.run(x0, rows - 1, restarts_allowed, rng, start)


def problem_is_unreachable(model: RobotModel, problem: ObjectiveSet, tolerance: float) -> bool:
    """
    Tell whether some fixed point target lies beyond the reach of its link.

    Uses ``RobotModel.reach_bound``: the sum of the link lengths along the chain. Only
    targets in the root frame (or in a link that no joint moves) are checked.
    """
    for o in problem.objectives:
        if o.position != 'fixed':
            continue
        ref = np.eye(4)
        if o.ref_link is not None and o.ref_link != model.root_link:
            rid = model.link_id(o.ref_link)
            if model.link_frame[rid] >= 0:
                continue
            ref = model.link_offset[rid]
        lid = model.link_id(o.link)
        for local, target in zip(o.local_points, o.target_points):
            bound = model.reach_bound(lid, local)
            if bound is None:
                continue
            center, radius = bound
            target_world = ref[:3, :3] @ target + ref[:3, 3]
            if np.linalg.norm(target_world - center) > radius + tolerance:
                return True
    return False


def _configuration(q, n: int, what: str) -> np.ndarray:
    q = np.asarray(q, dtype=float)
    if q.shape != (n,):
        raise InvalidConfigurationError(
            f'{what} must have {n} values (one per dof), got shape {q.shape}'
        )
    if not np.all(np.isfinite(q)):
        raise InvalidConfigurationError(f'{what} contains NaN or inf')
    return q


class _Descent:
    """The batched Levenberg-Marquardt loop for one solve."""

    def __init__(self, model, problem, seed, idx, limits, bias, settings, feasible):
        self.model, self.problem, self.seed, self.idx = model, problem, seed, idx
        self.lo, self.hi = limits.lower[idx], limits.upper[idx]
        self.bias = None if bias is None else bias[idx]
        self.settings, self.feasible = settings, feasible
        self.deadline = None

    def full(self, x: np.ndarray) -> np.ndarray:
        q = np.repeat(self.seed[None], len(x), axis=0)
        q[:, self.idx] = x
        return q

    def evaluate(self, x):
        r, j = self.problem.evaluate(self.full(x), jacobian=True)
        return r, j[:, :, self.idx]

    def run(self, x, restarts, restarts_allowed, rng, start) -> IKResult:
        s = self.settings
        deadline = start + s.timeout
        rows, k = x.shape
        eye = np.eye(k)
        lam = np.full(rows, s.initial_damping)
        iters = np.zeros(rows, dtype=int)
        done = np.zeros(rows, dtype=bool)
        r, jac = self.evaluate(x)
        cost = np.einsum('bm,bm->b', r, r)
        best_x, best_cost = x[0].copy(), np.inf
        total_iters = 0
        while True:
            err = self.problem.max_error(r)
            i = int(np.argmin(cost))
            if cost[i] < best_cost:
                best_x, best_cost = x[i].copy(), cost[i]
            ok = (err <= s.tolerance) & ~done
            if ok.any():
                found = self._pick(x, ok)
                if found is not None:
                    return self.result(
                        self.full(found[None])[0], CONVERGED, total_iters, restarts, start
                    )
            if time.perf_counter() >= deadline:
                reason = TIMEOUT
                break
            # Rows that cannot progress: restart them (global) or retire them.
            stuck = ~done & ((iters >= s.max_iterations) | (lam > 1e10))
            if stuck.any():
                free = restarts_allowed - restarts
                if free > 0:
                    rs = np.flatnonzero(stuck)[:free]
                    x[rs] = self._sample(rng, len(rs))
                    lam[rs], iters[rs] = s.initial_damping, 0
                    restarts += len(rs)
                    r_new, j_new = self.evaluate(x[rs])
                    r[rs], jac[rs] = r_new, j_new
                    cost[rs] = np.einsum('bm,bm->b', r_new, r_new)
                    stuck[rs] = False
                done |= stuck
                if done.all():
                    reason = (
                        RESTARTS_EXHAUSTED
                        if restarts_allowed
                        else (STALLED if (lam > 1e10).any() else MAX_ITERATIONS)
                    )
                    break
            # One damped Gauss-Newton step per row.
            jt = np.swapaxes(jac, 1, 2)
            h = jt @ jac
            g = (jt @ r[:, :, None])[..., 0]
            rhs = -g
            if self.bias is not None:
                pull = 0.2 * (self.bias - x)
                rhs = rhs - (h @ pull[:, :, None])[..., 0]
            step = np.linalg.solve(h + lam[:, None, None] * eye, rhs[:, :, None])[..., 0]
            if self.bias is not None:
                step = step + pull
            trial = np.minimum(np.maximum(x + step, self.lo), self.hi)
            r_t, j_t = self.evaluate(trial)
            cost_t = np.einsum('bm,bm->b', r_t, r_t)
            accept = (cost_t < cost) & ~done
            x = np.where(accept[:, None], trial, x)
            r = np.where(accept[:, None], r_t, r)
            jac = np.where(accept[:, None, None], j_t, jac)
            cost = np.where(accept, cost_t, cost)
            lam = np.where(accept, np.maximum(lam * 0.1, 1e-9), lam * 10.0)
            iters += ~done
            total_iters += 1
        return self.result(self.full(best_x[None])[0], reason, total_iters, restarts, start)

    def _pick(self, x, ok):
        """Among rows that meet the tolerance, the feasible one nearest the seed."""
        cand = np.flatnonzero(ok)
        order = cand[
            np.argsort(np.sum((x[cand] - self.seed[self.idx]) ** 2, axis=1), kind='stable')
        ]
        for c in order:
            if self.feasible is None or self.feasible(self.full(x[c][None])[0]):
                return x[c]
        ok[cand] = False
        return None

    def _sample(self, rng, count):
        lim = JointLimits(self.lo, self.hi, np.ones_like(self.lo, dtype=bool))
        return lim.sample(rng, self.seed[self.idx], count)

    def result(self, q, reason, iterations, restarts, start, limits=None) -> IKResult:
        model = self.model
        lim_full = JointLimits(
            np.full(model.num_dofs, -np.inf),
            np.full(model.num_dofs, np.inf),
            ~model.is_prismatic_dof,
        )
        lim_full.lower[self.idx], lim_full.upper[self.idx] = self.lo, self.hi
        q = lim_full.wrap_near(q, self.seed)
        residual, _ = self.problem.evaluate(q[None], jacobian=False)
        max_error = float(self.problem.max_error(residual)[0])
        success = reason == CONVERGED and max_error <= self.settings.tolerance
        at_limit = lim_full.at_limit(q)
        return IKResult(
            success=success,
            q=q,
            stop_reason=reason,
            max_error=max_error,
            residual=residual[0],
            objective_errors=self.problem.objective_errors(residual[0]),
            iterations=int(iterations),
            restarts=int(restarts),
            elapsed=time.perf_counter() - start,
            joints_at_limit=[model.joint_names[i] for i in self.idx if at_limit[i]],
            active_joints=[model.joint_names[i] for i in self.idx],
        )


def solve_nearby(
    model: RobotModel, objectives, seed: np.ndarray, max_deviation: float, **kwargs
) -> IKResult:
    """``solve`` in nearby mode: no dof moves more than ``max_deviation`` from ``seed``."""
    return solve(model, objectives, seed, mode=NEARBY, max_deviation=max_deviation, **kwargs)


def solve_global(
    model: RobotModel, objectives, seed: Optional[np.ndarray] = None, **kwargs
) -> IKResult:
    """``solve`` in global mode: the seed, then random restarts within count and time budgets."""
    return solve(model, objectives, seed, mode=GLOBAL, **kwargs)


__all__ = [
    'SolverSettings',
    'IKResult',
    'solve',
    'solve_nearby',
    'solve_global',
    'problem_is_unreachable',
    'replace',
]
