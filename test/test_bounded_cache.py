"""BoundedCache: the least recently used entry goes first; the size never passes its bound."""

import threading

from ik_service.core.bounded_cache import BoundedCache
import pytest


def test_least_recently_used_entries_are_dropped():
    cache = BoundedCache(3)
    for k in 'abc':
        cache[k] = k.upper()
    assert cache.get('a') == 'A'       # a is now the most recent
    cache['d'] = 'D'                    # b, the least recent, goes
    assert 'b' not in cache and len(cache) == 3
    assert [cache.get(k) for k in 'acd'] == ['A', 'C', 'D']
    assert cache.get('b', 'none') == 'none'


def test_get_or_make_makes_once_per_missing_key():
    cache = BoundedCache(2)
    made = []
    for key in [1, 1, 2, 1, 3, 2]:
        cache.get_or_make(key, lambda key=key: made.append(key) or key * 10)
    assert made == [1, 2, 3, 2]      # 2 was dropped when 3 came (1 was used more recently)


def test_threads_never_grow_it_past_its_size():
    cache = BoundedCache(8)

    def fill(offset):
        for i in range(2000):
            cache.get_or_make((offset, i), lambda: i)
            assert len(cache) <= 8
    threads = [threading.Thread(target=fill, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(cache) == 8


def test_a_cache_holds_at_least_one_entry():
    with pytest.raises(ValueError):
        BoundedCache(0)
