"""
New locks in a forked child for the core's caches.

A forked process has one thread, the one that forked, but a copy of every lock as it was:
a lock another thread held at that moment stays held in the child, where no thread is
left to release it, and the child's first use of that cache would wait forever. Batches
fork workers (``batches.solve_batch``) from processes whose other threads solve too (the
node), so each lock-holding object registers its locks here and a forked child gets them
anew. The data a lock guards is whole in the child: the fork happened while the forking
thread held the GIL, between two of the other threads' bytecodes.
"""

from __future__ import annotations

import os
import threading
import weakref

# object -> names of its lock attributes; an object no longer used drops out by itself
_OWNERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def renew_locks_after_fork(owner: object, *attributes: str) -> None:
    """Give ``owner`` a new ``threading.Lock`` in each of ``attributes`` in a forked child."""
    _OWNERS[owner] = attributes


def _renew_locks() -> None:
    for owner, attributes in list(_OWNERS.items()):
        for name in attributes:
            setattr(owner, name, threading.Lock())


os.register_at_fork(after_in_child=_renew_locks)
