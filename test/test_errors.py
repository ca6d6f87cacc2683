"""The core's errors: the magnitude check and the closest-name hints in messages."""

import math

from ik_service.core.errors import closest_names, MAX_MAGNITUDE, within_magnitude


def test_within_magnitude_checks_every_value_and_refuses_nan():
    assert within_magnitude([0.0, -MAX_MAGNITUDE, MAX_MAGNITUDE])
    assert within_magnitude([0.6 * MAX_MAGNITUDE] * 3)       # the sum is over, none is
    assert not within_magnitude([0.0, MAX_MAGNITUDE * 1.01])
    assert not within_magnitude([0.0, math.nan])
    assert not within_magnitude([math.inf])


def test_closest_names_lists_the_likely_ones_first_and_says_how_many_there_are():
    names = ['shoulder_pan_joint', 'shoulder_lift_joint', 'elbow_joint', 'wrist_1_joint']
    assert closest_names('elbow', names).startswith("'elbow_joint'")
    assert closest_names('zzz', names, limit=2) == \
        "'shoulder_pan_joint', 'shoulder_lift_joint' (of 4)"
