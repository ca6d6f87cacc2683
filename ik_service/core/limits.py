"""
Joint limits per degree of freedom, and the angle bookkeeping that goes with them.

Units: radians for revolute/continuous dofs, metres for prismatic ones. Unbounded dofs
(continuous joints, or every dof when limits are switched off) hold -inf/inf.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional

import numpy as np

from .errors import InvalidSettingsError
from .model import RobotModel


@dataclass(frozen=True)
class JointLimits:
    """Lower and upper bounds (n,) per dof, and which dofs are angles that may wrap."""

    lower: np.ndarray
    upper: np.ndarray
    is_angle: np.ndarray  # revolute or continuous: may be shifted by 2 pi

    @classmethod
    def from_model(
        cls,
        model: RobotModel,
        margin: float = 0.0,
        overrides: Optional[Mapping[str, tuple]] = None,
        enabled: bool = True,
    ) -> 'JointLimits':
        """
        Take the model's limits, shrunk by ``margin`` on each side, with per-joint overrides.

        ``overrides`` maps a joint name to (lower, upper); ``enabled=False`` makes every
        dof unbounded (overrides still apply).
        """
        default = margin == 0.0 and not overrides and enabled
        if default and getattr(model, '_default_limits', None) is not None:
            return model._default_limits
        if not np.isfinite(margin) or margin < 0:
            raise InvalidSettingsError(f'joint limit margin must be >= 0, got {margin}')
        lower = model.lower.copy() if enabled else np.full(model.num_dofs, -np.inf)
        upper = model.upper.copy() if enabled else np.full(model.num_dofs, np.inf)
        if margin > 0:
            bounded = np.isfinite(lower) & np.isfinite(upper) & (upper - lower > 2 * margin)
            lower = np.where(bounded, lower + margin, lower)
            upper = np.where(bounded, upper - margin, upper)
        for name, (lo, hi) in (overrides or {}).items():
            k = model.joint_id(name)
            lo, hi = float(lo), float(hi)
            if np.isnan(lo) or np.isnan(hi) or lo > hi:
                raise InvalidSettingsError(
                    f'joint limit override for {name!r} must have lower <= upper, got [{lo}, {hi}]'
                )
            lower[k], upper[k] = lo, hi
        limits = cls(lower, upper, ~model.is_prismatic_dof)
        if default:      # the model's own limits: built once, shared, read-only
            for array in (lower, upper, limits.is_angle):
                array.flags.writeable = False
            model._default_limits = limits
        return limits

    def clip(self, q: np.ndarray) -> np.ndarray:
        """Clip configurations (..., n) into the limits."""
        return np.minimum(np.maximum(q, self.lower), self.upper)

    def contains(self, q: np.ndarray, tolerance: float = 1e-9) -> np.ndarray:
        """Tell where every dof of a configuration (..., n) is within its limits."""
        return np.all((q >= self.lower - tolerance) & (q <= self.upper + tolerance), axis=-1)

    def around(self, center: np.ndarray, deviation: float) -> 'JointLimits':
        """
        Intersect these limits with ``center`` +- ``deviation`` (nearby mode).

        Where ``center`` is more than ``deviation`` outside a joint's limits the
        intersection is empty and its lower bound is above its upper one: the caller
        decides what that means.
        """
        lo = np.maximum(self.lower, center - deviation)
        hi = np.minimum(self.upper, center + deviation)
        return JointLimits(lo, hi, self.is_angle)

    def sample(self, rng: np.random.Generator, center: np.ndarray, count: int) -> np.ndarray:
        """
        ``count`` random configurations (count, n), uniform within the limits.

        Nothing is sampled from an infinite range: an unbounded angle is drawn from
        ``center`` +- pi, an unbounded prismatic dof from ``center`` +- 0.5 m.
        """
        half = np.where(self.is_angle, np.pi, 0.5)
        lo = np.where(np.isfinite(self.lower), self.lower, center - half)
        hi = np.where(np.isfinite(self.upper), self.upper, center + half)
        return lo + (hi - lo) * rng.random((count, lo.size))
