"""
Sine, cosine and arctangent that give the same bits on every machine.

The C library's ``sin``, ``cos`` and ``atan2`` are not the same function everywhere:
glibc picks an implementation by CPU (one using fused multiply-add where the CPU has it),
and their last bits differ. Forward kinematics and the solver's residuals built on them
then differ in the last bits from one machine to another, and so do the answers (a
relabelled dataset, a path). These are built from additions, multiplications, divisions
and square roots only, which IEEE 754 rounds exactly the same on every machine (numba
does not fuse them), so their results depend on the arguments alone. Accuracy: within
2 units in the last place of the true value over the angles the solver meets
(|x| < 1e5 rad), checked against the C library in the tests.

Method: the argument is reduced by a multiple of pi/2 (pi/2 split into three parts,
Cody and Waite), and the reduced angle r, |r| <= pi/4, goes into fdlibm's minimax
polynomials of sin and cos (within 1 unit in the last place there). atan2 reduces
to atan of a ratio in [0, 1], and that, by atan(a) = pi/6 + atan((a sqrt 3 - 1) /
(a + sqrt 3)), to |t| <= tan(pi/12), where the series to t^29 leaves less than 1e-18.

All functions are compiled (numba) and callable from Python and from compiled code.
"""

from __future__ import annotations

import math

from numba import njit

_JIT = {'nogil': True, 'cache': True}

# pi/2 = PIO2_1 + PIO2_2 + PIO2_3 (+ 1e-31): PIO2_1 and PIO2_2 hold 33 significant bits,
# so k * PIO2_1 and k * PIO2_2 are exact for |k| < 2 ** 20
PIO2_1 = 1.5707963267341256
PIO2_2 = 6.077100506303966e-11
PIO2_3 = 2.0222662487959506e-21
TWO_OVER_PI = 0.6366197723675814
PI = 3.141592653589793
PI_OVER_2 = 1.5707963267948966
PI_OVER_6 = 0.5235987755982989
SQRT_3 = 1.7320508075688772
TAN_PI_OVER_12 = 0.2679491924311227

# Minimax polynomials on |r| <= pi/4, fdlibm's (Sun Microsystems, freely redistributable):
# sin r = r + r^3 (S1 + S2 r^2 + ...), cos r = 1 - r^2 / 2 + r^4 (C1 + C2 r^2 + ...)
_SIN = (-1.66666666666666324348e-01, 8.33333333332248946124e-03, -1.98412698298579493134e-04,
        2.75573137070700676789e-06, -2.50507602534068634195e-08, 1.58969099521155010221e-10)
_COS = (4.16666666666666019037e-02, -1.38888888888741095749e-03, 2.48015872894767294178e-05,
        -2.75573143513906633035e-07, 2.08757232129817482790e-09, -1.13596475577881948265e-11)
# atan(t) = t - t^3/3 + t^5/5 - ...
_ATAN = tuple((-1) ** k / (2 * k + 1) for k in range(1, 15))


@njit(**_JIT)
def _polynomial(z, coefficients):
    """Return c0 + c1 z + c2 z^2 + ... (Horner's rule, from the last coefficient)."""
    p = 0.0
    for k in range(len(coefficients) - 1, -1, -1):
        p = p * z + coefficients[k]
    return p


@njit(**_JIT)
def sincos(x):
    """Return (sin x, cos x) [x in rad]; NaN for a non-finite x."""
    if not math.isfinite(x):
        return math.nan, math.nan
    k = int(math.floor(x * TWO_OVER_PI + 0.5))
    r = ((x - k * PIO2_1) - k * PIO2_2) - k * PIO2_3
    z = r * r
    s = r + r * z * _polynomial(z, _SIN)
    c = 1.0 - 0.5 * z + z * z * _polynomial(z, _COS)
    quadrant = k & 3
    if quadrant == 0:
        return s, c
    if quadrant == 1:
        return c, -s
    if quadrant == 2:
        return -s, -c
    return -c, s


@njit(**_JIT)
def _atan_unit(a):
    """Return atan(a) for 0 <= a <= 1."""
    base = 0.0
    if a > TAN_PI_OVER_12:
        a = (a * SQRT_3 - 1.0) / (a + SQRT_3)
        base = PI_OVER_6
    z = a * a
    return base + (a + a * z * _polynomial(z, _ATAN))


@njit(**_JIT)
def atan2(y, x):
    """
    Return the angle of the point (x, y) [rad], in [-pi, pi], as C's atan2 for finite input.

    atan2(0, x) is 0 for x >= 0 and pi for x < 0 (signed as y); NaN for non-finite input.
    """
    if not (math.isfinite(x) and math.isfinite(y)):
        return math.nan
    ax, ay = abs(x), abs(y)
    if ax == 0.0 and ay == 0.0:
        angle = 0.0
    elif ay <= ax:
        angle = _atan_unit(ay / ax)
    else:
        angle = PI_OVER_2 - _atan_unit(ax / ay)
    if x < 0.0:
        angle = PI - angle
    return -angle if y < 0.0 or (y == 0.0 and math.copysign(1.0, y) < 0.0) else angle


@njit(**_JIT)
def hypot(x, y):
    """Return sqrt(x^2 + y^2) (no scaling: for lengths well inside the double range)."""
    return math.sqrt(x * x + y * y)
