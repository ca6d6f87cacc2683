"""
Work arrays kept between solves, so that a solve does not allocate and touch fresh memory.

A solve takes the arrays it needs (``take``) and gives them back when it is done
(``give``). An array taken is out of the pool until it is given back, so solves running
at the same time in other threads, or nested in a feasibility check, never share one.
An array never given back (a solve that raised) is simply garbage collected.
"""

from __future__ import annotations

from typing import Any, Callable, Hashable

from .bounded_cache import BoundedCache


class BufferPool:
    """Free work arrays (or tuples of them) by key, at most ``keep`` per key and ``keys`` keys."""

    def __init__(self, keep: int = 4, keys: int = 16):
        self._free = BoundedCache(keys)     # problem sizes come from requests: bounded
        self._keep = keep

    def take(self, key: Hashable, make: Callable[[], Any]) -> Any:
        """Return a free item for ``key``, or ``make()`` when there is none."""
        free = self._free.get(key)
        if free:
            try:
                return free.pop()
            except IndexError:      # another thread took the last one in between
                pass
        return make()

    def give(self, key: Hashable, item: Any) -> None:
        """Return an item taken for ``key`` (or made for it) for reuse."""
        free = self._free.get_or_make(key, list)
        if len(free) < self._keep:
            free.append(item)
