"""exact_math: sine, cosine and arctangent within a few units in the last place of libm's."""

import math

from ik_service.core import exact_math
import numpy as np
import pytest


def _ulps(value: float, reference: float) -> float:
    """Distance of value from reference in units in the last place of the reference."""
    return abs(value - reference) / math.ulp(reference) if reference else abs(value) / 5e-324


ANGLES = np.concatenate([np.random.default_rng(1).uniform(-4.0, 4.0, 4000),
                         np.random.default_rng(2).uniform(-1e5, 1e5, 1000),
                         np.random.default_rng(3).uniform(-1e-3, 1e-3, 500),
                         [0.0, math.pi / 4, math.pi / 2, math.pi, -math.pi, 2 * math.pi,
                          1e-300, 1e5]]).tolist()


def test_sine_and_cosine_are_within_three_units_in_the_last_place_of_the_c_library():
    # the C library is itself within 1 of the true value; exact_math within 2
    worst = max(max(_ulps(s, math.sin(x)), _ulps(c, math.cos(x)))
                for x, (s, c) in ((x, exact_math.sincos(x)) for x in ANGLES))
    assert worst <= 3.0


def test_arctangent_is_within_three_units_in_the_last_place_in_every_quadrant():
    rng = np.random.default_rng(4)
    scale = rng.choice([1e-6, 1.0, 1e3], (4000, 2))
    points = (rng.normal(size=(4000, 2)) * scale).tolist()
    points += [[0.0, 1.0], [1.0, 0.0], [0.0, -1.0], [-1.0, 0.0], [1.0, 1.0], [-1.0, -1.0]]
    worst = max(_ulps(exact_math.atan2(y, x), math.atan2(y, x)) for y, x in points)
    assert worst <= 3.0


@pytest.mark.parametrize('y, x', [(0.0, 0.0), (-0.0, 0.0), (0.0, -1.0), (-0.0, -1.0),
                                  (1.0, 0.0), (-1.0, 0.0), (2.0, -1e-300)])
def test_arctangent_follows_c_on_the_axes_and_signed_zeros(y, x):
    assert exact_math.atan2(y, x) == math.atan2(y, x)
    assert math.copysign(1.0, exact_math.atan2(y, x)) == math.copysign(1.0, math.atan2(y, x))


def test_non_finite_arguments_give_nan():
    assert all(math.isnan(v) for v in exact_math.sincos(math.inf))
    assert math.isnan(exact_math.atan2(math.nan, 1.0))
    assert math.isnan(exact_math.atan2(1.0, math.inf))
