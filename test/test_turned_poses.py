"""TurnedPoses: table poses compared in coordinates that turning the first joint keeps."""

import math

from ik_service.core.turned_poses import LEAF, TurnedPoses
import numpy as np
from scipy.spatial.transform import Rotation


def _poses(count, rng):
    """Poses (count, 4, 4) of a link turned about z by a first joint value (count,)."""
    values = rng.uniform(-math.pi, math.pi, count)
    local = np.tile(np.eye(4), (count, 1, 1))
    local[:, :3, 3] = np.column_stack([rng.uniform(0.2, 1.0, count), np.zeros(count),
                                       rng.uniform(-0.5, 0.5, count)])
    local[:, :3, :3] = Rotation.random(count, random_state=1).as_matrix()
    turn = np.tile(np.eye(4), (count, 1, 1))
    turn[:, :3, :3] = Rotation.from_rotvec(np.outer(values, [0, 0, 1])).as_matrix()
    return turn @ local, values, local


def _table(values):
    """Return a stand-in table (N, 2): the first joint's value, then the entry's index."""
    return np.column_stack([values, np.arange(len(values), dtype=float)])


def test_the_best_entry_is_the_one_that_turned_meets_the_target():
    rng = np.random.default_rng(2)
    poses, values, local = _poses(4 * LEAF, rng)
    index = TurnedPoses(poses, 0, values, np.eye(4), (-math.pi, math.pi), 0.1)
    k = 77                          # the target: entry k's pose turned to azimuth 2.0
    target = np.eye(4)
    target[:3, :3] = Rotation.from_rotvec([0, 0, 2.0]).as_matrix()
    target = target @ local[k]
    starts = index.starts(target[:3, 3], target[:3, :3], 8, _table(values), np.arange(2))
    first, entries = starts[:, 0], starts[:, 1].astype(int)
    assert entries[0] == k
    # each start is its entry turned about the first joint: its pose the entry's local
    # pose turned by the start's first joint value, the best one exactly the target
    turned = np.tile(np.eye(4), (len(first), 1, 1))
    turned[:, :3, :3] = Rotation.from_rotvec(np.outer(first, [0, 0, 1])).as_matrix()
    reached = turned @ local[entries]
    np.testing.assert_allclose(reached[0], target, atol=1e-9)
    # and the score of the starts (squared distance plus 0.1 (3 - trace(R_t^T R))), taken
    # from their poses, does not decrease (single-precision features: to 1e-5)
    scores = [np.sum((p[:3, 3] - target[:3, 3]) ** 2)
              + 0.1 * (3 - np.trace(target[:3, :3].T @ p[:3, :3])) for p in reached]
    assert np.all(np.diff(scores) >= -1e-5)


def test_entries_turned_beyond_the_first_joints_limits_come_last():
    rng = np.random.default_rng(3)
    poses, values, _ = _poses(4 * LEAF, rng)
    clipped = np.clip(values, -1.0, 1.0)
    index = TurnedPoses(poses, 0, clipped, np.eye(4), (-1.0, 1.0), 0.1)
    starts = index.starts(np.array([0.5, 0.2, 0.1]), None, 4 * LEAF,        # every entry
                          _table(clipped), np.arange(2))
    first = starts[:, 0]
    assert len(set(starts[:, 1])) == 4 * LEAF
    inside = first <= 1.0
    assert inside.any() and not inside.all()
    # once an entry is outside the limits, every later one is too
    assert not inside[np.argmin(inside):].any()
    assert np.all(first >= -1.0)            # wrapped into [lower, lower + 2 pi)


def test_starts_take_only_the_active_dofs():
    rng = np.random.default_rng(4)
    poses, values, _ = _poses(4 * LEAF, rng)
    index = TurnedPoses(poses, 0, values, np.eye(4), (-math.pi, math.pi), 0.1)
    table = np.column_stack([values, np.arange(len(values), dtype=float), -values])
    every = index.starts(np.array([0.5, 0.2, 0.1]), None, 8, table, np.arange(3))
    some = index.starts(np.array([0.5, 0.2, 0.1]), None, 8, table, np.array([0, 2]))
    np.testing.assert_array_equal(some, every[:, [0, 2]])
    assert np.all(every[:, 2] == -values[every[:, 1].astype(int)])   # not turned
