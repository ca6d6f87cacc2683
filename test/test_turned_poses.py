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


def test_the_best_entry_is_the_one_that_turned_meets_the_target():
    rng = np.random.default_rng(2)
    poses, values, local = _poses(4 * LEAF, rng)
    index = TurnedPoses(poses, 0, values, np.eye(4), (-math.pi, math.pi), 0.1)
    k = 77                          # the target: entry k's pose turned to azimuth 2.0
    target = np.eye(4)
    target[:3, :3] = Rotation.from_rotvec([0, 0, 2.0]).as_matrix()
    target = target @ local[k]
    weights, azimuth = index.target_weights(target[:3, 3], target[:3, :3])
    entries, first = index.nearest(weights, azimuth, 8)
    assert entries[0] == k
    # its first joint turned so that its pose is the target
    turned = np.eye(4)
    turned[:3, :3] = Rotation.from_rotvec([0, 0, first[0]]).as_matrix()
    np.testing.assert_allclose(turned @ local[k], target, atol=1e-9)
    # and the scores of the rest do not decrease
    features = index.features.transpose(1, 0, 2).reshape(12, -1)
    slots = {e: s for s, e in enumerate(index.entries.ravel())}
    scores = [weights @ features[:, slots[e]] for e in entries]
    assert np.all(np.diff(scores) >= -1e-9)


def test_entries_turned_beyond_the_first_joints_limits_come_last():
    rng = np.random.default_rng(3)
    poses, values, _ = _poses(4 * LEAF, rng)
    index = TurnedPoses(poses, 0, np.clip(values, -1.0, 1.0), np.eye(4), (-1.0, 1.0), 0.1)
    weights, azimuth = index.target_weights(np.array([0.5, 0.2, 0.1]), None)
    entries, first = index.nearest(weights, azimuth, 4 * LEAF)     # every entry
    inside = first <= 1.0
    assert inside.any() and not inside.all()
    # once an entry is outside the limits, every later one is too
    assert not inside[np.argmin(inside):].any()
    assert np.all(first >= -1.0)            # wrapped into [lower, lower + 2 pi)
