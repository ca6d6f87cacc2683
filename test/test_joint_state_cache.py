"""JointStateCache: merging by name, NaN as no value, and bounded memory."""

import math

from ik_service.joint_state_cache import JointStateCache, MAX_UNKNOWN_NAMES


def test_messages_merge_by_name_and_nan_keeps_the_previous_value():
    cache = JointStateCache()
    assert cache.update(['a', 'b'], [1.0, 2.0], now=0.0)
    assert cache.update(['b', 'c'], [math.nan, 3.0], now=1.0)
    assert cache.positions() == {'a': 1.0, 'b': 2.0, 'c': 3.0}
    assert cache.positions(max_age=0.5, now=1.2) == {'c': 3.0}
    assert not cache.update(['a', 'b'], [1.0], now=2.0)          # lengths differ
    assert cache.rejected_messages == 1 and cache.positions()['a'] == 1.0


def test_only_the_models_joints_are_kept_once_it_is_known():
    cache = JointStateCache()
    cache.update(['a', 'stray'], [1.0, 2.0], now=0.0)
    cache.restrict_to(['a', 'b'])
    assert cache.positions() == {'a': 1.0}
    cache.update([f'new{i}' for i in range(100)] + ['b'], [0.0] * 100 + [5.0], now=1.0)
    assert cache.positions() == {'a': 1.0, 'b': 5.0}
    assert cache.dropped_names == 100


def test_names_are_bounded_before_a_model_is_known():
    cache = JointStateCache()
    for batch in range(5):
        names = [f'j{batch}_{i}' for i in range(1000)]
        cache.update(names, [0.0] * len(names), now=0.0)
    assert len(cache.positions()) == MAX_UNKNOWN_NAMES
    assert cache.dropped_names == 5000 - MAX_UNKNOWN_NAMES
    cache.update(['j0_0'], [7.0], now=1.0)       # a known name still updates
    assert cache.positions()['j0_0'] == 7.0
