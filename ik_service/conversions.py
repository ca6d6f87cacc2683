"""
Between ik_interfaces messages and the core library's types.

Every function raises an ``ik_service.core`` error (with a message saying what to fix)
on bad input; ``result_code_for`` maps those errors to ResultCode values.
"""

from __future__ import annotations

import array
import json
import math
from typing import Mapping, Sequence

from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Point, PoseStamped, Quaternion
from ik_interfaces.msg import IKObjective as IKObjectiveMsg
from ik_interfaces.msg import ObjectiveError, PoseTarget, ResultCode
from ik_service.core import (
    IKError,
    IKObjective,
    InvalidConfigurationError,
    InvalidObjectiveError,
    InvalidSettingsError,
    NoSolutionError,
    RobotModel,
    UnknownFrameError,
    UnknownJointError,
    UnknownLinkError,
    URDFError,
)
from ik_service.core.errors import MAX_MAGNITUDE
from ik_service.core.transforms import matrix_to_quaternion, quaternion_to_matrix
import numpy as np
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

_POSITION = {
    IKObjectiveMsg.POS_NONE: 'none',
    IKObjectiveMsg.POS_PLANAR: 'planar',
    IKObjectiveMsg.POS_LINEAR: 'linear',
    IKObjectiveMsg.POS_FIXED: 'fixed',
}
_ROTATION = {
    IKObjectiveMsg.ROT_NONE: 'none',
    IKObjectiveMsg.ROT_AXIAL: 'axial',
    IKObjectiveMsg.ROT_FIXED: 'fixed',
}


def result_code_for(error: Exception) -> int:
    """Return the ResultCode value for a core error (FAILURE for anything unexpected)."""
    for cls, code in (
        (UnknownFrameError, ResultCode.FRAME_TRANSFORM_FAILURE),
        (UnknownLinkError, ResultCode.INVALID_LINK_NAME),
        (UnknownJointError, ResultCode.INVALID_JOINT_NAME),
        (InvalidObjectiveError, ResultCode.INVALID_GOAL_CONSTRAINTS),
        (InvalidConfigurationError, ResultCode.INVALID_ROBOT_STATE),
        (InvalidSettingsError, ResultCode.INVALID_SOLVER_SETTINGS),
        (URDFError, ResultCode.NO_ROBOT_MODEL),
        (NoSolutionError, ResultCode.NO_IK_SOLUTION),
    ):
        if isinstance(error, cls):
            return code
    return ResultCode.FAILURE


def _xyz(v) -> list:
    return [v.x, v.y, v.z]


def objectives_from_request(pose_targets: Sequence, objectives: Sequence) -> list[IKObjective]:
    """Core objectives from PoseTarget[] (first) and IKObjective[] messages."""
    out = []
    for k, target in enumerate(pose_targets):
        where = f'pose_targets[{k}]'
        if not target.link:
            raise InvalidObjectiveError(
                f'{where}.link is empty: name the link that should reach the pose'
            )
        out.append(pose_objective(target.link, target.pose, f'{where}.pose'))
    for k, msg in enumerate(objectives):
        out.append(_checked(f'objectives[{k}]', lambda: objective_from_msg(msg)))
    if not out:
        raise InvalidObjectiveError(
            'the request has no pose_targets and no objectives; give at least one'
        )
    return out


def pose_objective(link: str, pose: PoseStamped, where: str = '') -> IKObjective:
    """
    Return the objective putting ``link``'s frame at a geometry_msgs/PoseStamped.

    The pose is in its header's frame (a link; empty: the robot's root), position in m.
    where: the request field the pose came from, named in InvalidObjectiveError ('': the
    pose is the message itself).
    """
    o = pose.pose.orientation
    try:
        rotation = quaternion_to_matrix([o.x, o.y, o.z, o.w])
    except InvalidObjectiveError as e:
        field = f'{where}.pose' if where else 'pose'
        raise InvalidObjectiveError(f'{field}.orientation: {e}') from None

    def objective():
        return IKObjective.fixed_pose(link, rotation, _xyz(pose.pose.position),
                                      ref_link=pose.header.frame_id or None)
    return _checked(where, objective) if where else objective()


def waypoints_from_request(waypoints: Sequence) -> list[list[IKObjective]]:
    """Core objectives per waypoint from ik_interfaces/Waypoint messages."""
    out = []
    for k, w in enumerate(waypoints):
        try:
            out.append(objectives_from_request(w.pose_targets, w.objectives))
        except InvalidObjectiveError as e:
            raise InvalidObjectiveError(f'waypoints[{k}]: {e}') from None
    if not out:
        raise InvalidObjectiveError('the path has no waypoints; give at least one')
    return out


def trajectory_msg(joint_names: Sequence[str], q: np.ndarray, waypoints: Sequence,
                   default_period: float = 0.1) -> JointTrajectory:
    """
    Build a JointTrajectory through configurations q (W, n), timed by the waypoints.

    Each point takes its waypoint's ``time_from_start``; when every one is zero, point k
    is at (k + 1) * ``default_period`` [s].
    """
    times = [duration_to_seconds(w.time_from_start) for w in waypoints[:len(q)]]
    if not any(times):
        times = [(k + 1) * default_period for k in range(len(q))]
    return JointTrajectory(joint_names=list(joint_names), points=[
        JointTrajectoryPoint(positions=row.tolist(), time_from_start=seconds_to_duration(t))
        for row, t in zip(q, times)])


def _checked(where: str, build):
    try:
        return build()
    except InvalidObjectiveError as e:
        raise InvalidObjectiveError(f'{where}: {e}') from None


def objective_from_msg(msg) -> IKObjective:
    """One core objective from an ik_interfaces/IKObjective message."""
    if msg.pos_type not in _POSITION:
        raise InvalidObjectiveError(
            f'pos_type {msg.pos_type} is not one of POS_NONE(0), POS_PLANAR(1), '
            'POS_LINEAR(2), POS_FIXED(3)'
        )
    if msg.rot_type not in _ROTATION:
        raise InvalidObjectiveError(
            f'rot_type {msg.rot_type} is not one of ROT_NONE(0), ROT_AXIAL(1), ROT_FIXED(2)'
        )
    if msg.rot_type == IKObjectiveMsg.ROT_NONE:
        q = msg.target_orientation
        given = [name for name, unset in (
            ('target_orientation', (q.x, q.y, q.z, q.w) == (0.0, 0.0, 0.0, 1.0)),
            ('local_axis', not any(_xyz(msg.local_axis))),
            ('target_axis', not any(_xyz(msg.target_axis)))) if not unset]
        if given:
            raise InvalidObjectiveError(
                f'{" and ".join(given)} given but rot_type is ROT_NONE(0), the default: set '
                'rot_type to ROT_FIXED(2) for an orientation or ROT_AXIAL(1) for an axis, or '
                'leave them out for a point objective')
    rotation = None
    if msg.rot_type == IKObjectiveMsg.ROT_FIXED:
        q = msg.target_orientation
        rotation = quaternion_to_matrix([q.x, q.y, q.z, q.w])
    return IKObjective(
        link=msg.link,
        ref_link=msg.ref_link or None,
        position=_POSITION[msg.pos_type],
        local_points=[_xyz(p) for p in msg.local_points],
        target_points=[_xyz(p) for p in msg.target_points],
        direction=_xyz(msg.direction),
        rotation=_ROTATION[msg.rot_type],
        local_axis=_xyz(msg.local_axis),
        target_axis=_xyz(msg.target_axis),
        target_rotation=rotation,
    )


def joint_values(
    model: RobotModel, names: Sequence[str], positions: Sequence[float], what: str
) -> dict[str, float]:
    """
    Name -> value from a JointState's name/position arrays; NaN entries are skipped.

    Raises InvalidConfigurationError for mismatched lengths or inf, UnknownJointError for
    names the robot does not have.
    """
    if len(names) != len(positions):
        raise InvalidConfigurationError(
            f'{what}: name has {len(names)} entries but position has {len(positions)}; '
            'give one position per name'
        )
    out = {}
    for name, value in zip(names, positions):
        model.joint_id(name)
        value = float(value)
        if math.isnan(value):
            continue
        if not math.isfinite(value) or abs(value) > MAX_MAGNITUDE:
            raise InvalidConfigurationError(
                f'{what}: position of {name!r} is {value}; it must be finite and within '
                f'+-{MAX_MAGNITUDE:g}')
        out[name] = value
    return out


def configuration(model: RobotModel, base: np.ndarray, *layers: Mapping[str, float]) -> np.ndarray:
    """Return ``base`` (n,) with each layer's name -> value applied in order (later wins)."""
    q = np.array(base, dtype=float)
    for layer in layers:
        for name, value in layer.items():
            k = model.joint_index.get(name)
            if k is not None:
                q[k] = value
    return q


def pose_target_msg(pose: np.ndarray, link: str, frame: str = '') -> PoseTarget:
    """Build a PoseTarget asking ``link`` to reach ``pose`` (4, 4; m) in ``frame`` ('': root)."""
    x, y, z, w = matrix_to_quaternion(pose[:3, :3])
    target = PoseTarget(link=link, pose=PoseStamped())
    target.pose.header.frame_id = frame
    x0, y0, z0 = (float(v) for v in pose[:3, 3])
    target.pose.pose.position = Point(x=x0, y=y0, z=z0)
    target.pose.pose.orientation = Quaternion(x=float(x), y=float(y), z=float(z), w=float(w))
    return target


def duration_to_seconds(d: Duration) -> float:
    """Convert a builtin_interfaces/Duration to seconds at full resolution (sec + nanosec)."""
    return d.sec + d.nanosec * 1e-9


def seconds_to_duration(seconds: float) -> Duration:
    """Seconds to a builtin_interfaces/Duration."""
    ns = int(round(seconds * 1e9))
    return Duration(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def objective_error_msgs(objectives: Sequence[IKObjective], errors: Sequence[tuple]) -> list:
    """Build ObjectiveError messages, one per objective, in request order."""
    return [
        ObjectiveError(
            link=o.link,
            ref_link=o.ref_link or '',
            position_error=float(p),
            rotation_error=float(r),
        )
        for o, (p, r) in zip(objectives, errors)
    ]


__all__ = [
    'IKError',
    'result_code_for',
    'objectives_from_request',
    'objective_from_msg',
    'pose_objective',
    'joint_values',
    'configuration',
    'duration_to_seconds',
    'seconds_to_duration',
    'objective_error_msgs',
    'pose_target_msg',
    'float64_array',
]


def float64_array(values) -> array.array:
    """
    Return a message's float64[] value from an array of floats (any shape, C order).

    rclpy takes an ``array.array('d')`` as it is, where a list is checked value by value.
    """
    return array.array('d', np.ascontiguousarray(values, dtype=float).tobytes())


def yaml_mapping(values: Mapping[str, object]) -> str:
    """
    Write a flat mapping as YAML, one ``key: value`` line each, in the mapping's order.

    Values: None, bool, int, float, str, or lists of those. Floats keep every digit
    (``repr``) and always have a decimal point (PyYAML reads ``1e-05`` as a string);
    strings are double-quoted JSON strings, which YAML reads back unchanged. About 40x
    faster than ``yaml.dump`` for a response's settings.
    """
    return ''.join(f'{_yaml_key(key)}: {_yaml_value(value)}\n' for key, value in values.items())


# plain words YAML 1.1 reads as something other than a string
_YAML_WORDS = {'y', 'n', 'yes', 'no', 'on', 'off', 'true', 'false', 'null', '~'}


def _yaml_key(key: str) -> str:
    plain = key.isidentifier() and key.isascii() and key.lower() not in _YAML_WORDS
    return key if plain else json.dumps(key, ensure_ascii=False)


def _yaml_value(value) -> str:
    if value is None:
        return 'null'
    if isinstance(value, (bool, np.bool_)):
        return 'true' if value else 'false'
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isnan(value):
            return '.nan'
        if math.isinf(value):
            return '.inf' if value > 0 else '-.inf'
        mantissa, e, exponent = repr(value).partition('e')
        return mantissa + ('' if '.' in mantissa else '.0') + e + exponent
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return '[' + ', '.join(_yaml_value(v) for v in value) + ']'
    raise TypeError(f'no YAML form for {type(value).__name__}')
