"""
The robot's latest joint positions, merged by name across /joint_states messages.

Plain Python (no ROS types) so it is testable alone. Several publishers may each send
part of the joints (arm driver, gripper driver); each message updates only the names it
carries. NaN means "no value" (joint_state_broadcaster sends NaN for joints without a
position interface) and leaves the previous value in place.

Bounded: once a robot model is known only its joints are kept (other names are counted
and dropped); before that, at most ``MAX_UNKNOWN_NAMES`` names.
"""

from __future__ import annotations

import math
import threading
from typing import Iterable, Mapping, Optional, Sequence

MAX_UNKNOWN_NAMES = 1024


class JointStateCache:
    """Thread-safe map joint name -> (position [rad or m], receive time [s])."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._positions: dict[str, float] = {}
        self._stamps: dict[str, float] = {}
        self._allowed: Optional[frozenset] = None
        self.rejected_messages = 0
        self.dropped_names = 0

    def restrict_to(self, names: Iterable[str]) -> None:
        """Keep only these joints from now on (the model's), forgetting any others."""
        allowed = frozenset(names)
        with self._lock:
            self._allowed = allowed
            for name in [n for n in self._positions if n not in allowed]:
                del self._positions[name], self._stamps[name]

    def update(self, names: Sequence[str], positions: Sequence[float], now: float) -> bool:
        """Merge one message. Returns False (and changes nothing) if it is malformed."""
        if len(names) != len(positions):
            self.rejected_messages += 1
            return False
        with self._lock:
            allowed = self._allowed
            for name, value in zip(names, positions):
                value = float(value)
                if not math.isfinite(value):
                    continue
                if allowed is not None and name not in allowed or allowed is None and \
                        name not in self._positions and len(self._positions) >= MAX_UNKNOWN_NAMES:
                    self.dropped_names += 1
                    continue
                self._positions[name] = value
                self._stamps[name] = now
        return True

    def positions(
        self, max_age: Optional[float] = None, now: Optional[float] = None
    ) -> Mapping[str, float]:
        """Snapshot the known positions; with ``max_age`` [s], only those newer than that."""
        with self._lock:
            if max_age is None or max_age <= 0 or now is None:
                return dict(self._positions)
            return {n: p for n, p in self._positions.items() if now - self._stamps[n] <= max_age}

    def clear(self) -> None:
        """Forget every position (for a new robot model)."""
        with self._lock:
            self._positions.clear()
            self._stamps.clear()
