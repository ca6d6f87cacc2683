"""JointLimits: margins and overrides, clipping, the nearby box, sampling; turns of an answer."""

import math

from ik_service.core import InvalidSettingsError, JointLimits, kernel, load_urdf_string
import numpy as np
import pytest
from robots import gripper_with_mimic_and_prismatic

# dofs: lift (prismatic 0..0.5), shoulder (revolute), wrist_spin (continuous), finger
GRIPPER = load_urdf_string(gripper_with_mimic_and_prismatic())


def test_margins_shrink_bounded_joints_and_overrides_replace_them():
    plain = JointLimits.from_model(GRIPPER)
    margin = JointLimits.from_model(GRIPPER, margin=0.1, overrides={'shoulder': (-0.5, 0.25)})
    lift, shoulder, spin = (GRIPPER.joint_id(n) for n in ('lift', 'shoulder', 'wrist_spin'))
    assert (margin.lower[lift], margin.upper[lift]) == pytest.approx(
        (plain.lower[lift] + 0.1, plain.upper[lift] - 0.1))
    assert (margin.lower[shoulder], margin.upper[shoulder]) == (-0.5, 0.25)
    assert margin.lower[spin] == -math.inf and margin.upper[spin] == math.inf
    free = JointLimits.from_model(GRIPPER, enabled=False)
    assert np.all(np.isinf(free.lower)) and np.all(np.isinf(free.upper))
    with pytest.raises(InvalidSettingsError, match='lower <= upper'):
        JointLimits.from_model(GRIPPER, overrides={'shoulder': (1.0, 0.0)})
    with pytest.raises(InvalidSettingsError, match='margin'):
        JointLimits.from_model(GRIPPER, margin=-0.1)


def test_clip_and_contains_agree():
    limits = JointLimits(np.array([-1.0, 0.0]), np.array([1.0, 0.5]), np.array([True, False]))
    q = np.array([2.0, -0.1])
    clipped = limits.clip(q)
    assert clipped.tolist() == [1.0, 0.0]
    assert not limits.contains(q) and limits.contains(clipped)


def test_the_nearby_box_is_empty_where_the_center_is_too_far_outside():
    limits = JointLimits(np.array([-1.0, -1.0]), np.array([1.0, 1.0]), np.array([True, True]))
    box = limits.around(np.array([0.95, 1.3]), 0.1)
    assert (box.lower[0], box.upper[0]) == pytest.approx((0.85, 1.0))
    assert box.lower[1] > box.upper[1]           # 0.3 outside with a 0.1 deviation: empty


def test_nothing_is_sampled_from_an_infinite_range():
    limits = JointLimits(np.array([-np.inf, -np.inf, 0.0]), np.array([np.inf, np.inf, 2.0]),
                         np.array([True, False, True]))
    center = np.array([10.0, 3.0, 0.0])
    samples = limits.sample(np.random.default_rng(0), center, 2000)
    assert np.all(np.isfinite(samples))
    assert np.all(np.abs(samples[:, 0] - 10.0) <= math.pi)     # angle: center +- pi
    assert np.all(np.abs(samples[:, 1] - 3.0) <= 0.5)          # prismatic: center +- 0.5 m
    assert np.all((samples[:, 2] >= 0.0) & (samples[:, 2] <= 2.0))


def test_an_answer_turns_angles_by_2_pi_only_within_their_limits():
    """kernel.answer: the solver's answer from its active values, and which sit at a bound."""
    two_pi = 2 * math.pi
    # active dofs 0, 1, 3, 4 of five: continuous, UR-style +-2 pi, prismatic, narrow
    idx = np.array([0, 1, 3, 4])
    lower, upper = np.array([-np.inf, -two_pi, 0.0, -1.0]), np.array([np.inf, two_pi, 7.0, 1.0])
    is_angle = np.array([True, True, False, True])
    seed = np.array([0.0, 3.0, 0.5, 0.0, 0.0])
    x = np.array([3 * two_pi + 0.2, -3.0, 7.0, 1.0 - 1e-7])
    q, at_limit = np.empty(5), np.empty(4, dtype=bool)
    kernel.answer(x, seed, idx, lower, upper, is_angle, 1e-6, q, at_limit)
    assert q[0] == pytest.approx(0.2)             # continuous: within pi of the seed
    assert q[1] == pytest.approx(-3.0 + two_pi)   # UR-style +-2 pi: nearer, inside
    assert q[2] == 0.5                            # not active: the seed's
    assert q[3] == 7.0                            # prismatic: never shifted
    assert q[4] == 1.0 - 1e-7                     # narrow revolute: nothing to shift
    assert at_limit.tolist() == [False, False, True, True]
    # a turn that would leave the limits is not taken: -3 + 2 pi is beyond 3
    narrow = upper.copy()
    narrow[1] = 3.0
    kernel.answer(x, seed, idx, lower, narrow, is_angle, 1e-6, q, at_limit)
    assert q[1] == -3.0 and not at_limit[1]
