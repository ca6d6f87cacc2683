"""
Exceptions of the kinematics core.

Every exception says what was wrong and how to fix it; the ROS layer maps each class to
a result code (see ``ik_service.result_codes``).
"""


# Coordinates [m] and joint values [rad or m] beyond this are refused as absurd: they
# are no robot's, and arithmetic on them overflows.
MAX_MAGNITUDE = 1e6


def within_magnitude(values: list) -> bool:
    """Tell whether every value (floats) is within +-MAX_MAGNITUDE; False for NaN."""
    # The sum of the magnitudes bounds each one and is NaN when one is: a single C loop
    # decides the usual case.
    return sum(map(abs, values)) <= MAX_MAGNITUDE or \
        all(abs(v) <= MAX_MAGNITUDE for v in values)


class IKError(Exception):
    """Base class of every error the core raises on bad input."""


class URDFError(IKError):
    """The robot description could not be turned into a kinematic model."""


class UnknownLinkError(IKError):
    """A link name the robot does not have."""


class UnknownFrameError(UnknownLinkError):
    """A reference frame (``ref_link`` / ``frame_id``) the robot does not have."""


class UnknownJointError(IKError):
    """A joint name the robot does not have, or one that cannot be used there."""


class InvalidObjectiveError(IKError):
    """An objective that is malformed: NaN/inf, a zero axis, a bad quaternion, ..."""


class InvalidConfigurationError(IKError):
    """A joint configuration (seed, bias, ...) that is malformed."""


class InvalidSettingsError(IKError):
    """A solver setting outside its valid range."""


class NoSolutionError(IKError):
    """Nothing meets the request as asked (no solution on the requested branch)."""


def closest_names(name: str, candidates, limit: int = 5) -> str:
    """Format a hint listing the candidate names closest to ``name``."""
    import difflib

    candidates = list(candidates)
    close = difflib.get_close_matches(name, candidates, n=limit, cutoff=0.4)
    shown = close if close else candidates[:limit]
    more = '' if len(candidates) <= len(shown) else f' (of {len(candidates)})'
    return ', '.join(repr(c) for c in shown) + more
