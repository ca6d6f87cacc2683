"""
A thread-safe map that keeps at most a fixed number of entries (least recently used out).

Every cache the core keeps on behalf of requests (kinematics per set of links, reach
bounds per point, objective layouts, seed-table features per link, work arrays per
problem size) is one of these, so no sequence of requests can grow memory without bound.
"""

from __future__ import annotations

from collections import OrderedDict
import threading
from typing import Any, Callable, Hashable

from .fork_safety import renew_locks_after_fork

_MISSING = object()      # no entry (None may be one)


class BoundedCache:
    """Up to ``size`` entries; reading or writing an entry makes it the most recent."""

    def __init__(self, size: int):
        if size < 1:
            raise ValueError('a BoundedCache holds at least one entry')
        self._size = size
        self._entries: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        renew_locks_after_fork(self, '_lock')

    def get(self, key: Hashable, default: Any = None) -> Any:
        """Return the entry for ``key``, or ``default``."""
        with self._lock:
            value = self._entries.get(key, _MISSING)
            if value is _MISSING:
                return default
            self._entries.move_to_end(key)
            return value

    def __setitem__(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def get_or_make(self, key: Hashable, make: Callable[[], Any]) -> Any:
        """Return the entry for ``key``, making and storing it first if there is none."""
        value = self.get(key, _MISSING)
        if value is _MISSING:
            value = make()      # outside the lock: making may take long or recurse
            self[key] = value
        return value

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._entries

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._entries.clear()
