"""
How much one request may ask of the node: counts and sizes checked before any work.

Every check runs in time proportional to the number of list entries, before anything is
converted, and raises the core error whose result code fits (INVALID_GOAL_CONSTRAINTS
for objectives and points, INVALID_ROBOT_STATE for joint lists, INVALID_SOLVER_SETTINGS
for budgets, INVALID_LINK_NAME / INVALID_JOINT_NAME for names too long to be any
robot's), with a message naming the ``limits.*`` parameter that sets the cap.
"""

from __future__ import annotations

from typing import Iterable

from ik_service.core import (IKError, InvalidConfigurationError, InvalidObjectiveError,
                             InvalidSettingsError, UnknownJointError, UnknownLinkError)

# Link and joint names longer than this are no robot's (URDF names are short).
MAX_NAME_LENGTH = 256


def check_objectives(pose_targets, objectives, values: dict) -> None:
    """Refuse more objectives or points than limits.max_objectives / limits.max_points."""
    count = len(pose_targets) + len(objectives)
    if count > values['limits.max_objectives']:
        raise InvalidObjectiveError(
            f'the request has {count} pose_targets and objectives; the limit is '
            f'{values["limits.max_objectives"]} (parameter limits.max_objectives)')
    points = len(pose_targets) + sum(
        max(len(o.local_points), len(o.target_points), 1) for o in objectives)
    if points > values['limits.max_points']:
        raise InvalidObjectiveError(
            f'the request has {points} points over all objectives; the limit is '
            f'{values["limits.max_points"]} (parameter limits.max_points)')
    for what, names in (
            ('pose_targets[].link', (t.link for t in pose_targets)),
            ('pose_targets[].pose.header.frame_id',
             (t.pose.header.frame_id for t in pose_targets)),
            ('objectives[].link', (o.link for o in objectives)),
            ('objectives[].ref_link', (o.ref_link for o in objectives))):
        _check_names(what, names, UnknownLinkError)


def check_branch(branch: str) -> None:
    """Refuse a branch label longer than MAX_NAME_LENGTH (labels are short: "elbow-")."""
    if len(branch) > MAX_NAME_LENGTH:
        raise InvalidSettingsError(
            f'branch: a label of {len(branch)} characters; labels are at most '
            f'{MAX_NAME_LENGTH}, such as "shoulder+ elbow- wrist+" or "elbow-"')


def check_waypoints(waypoints, values: dict) -> None:
    """Refuse more than limits.max_waypoints waypoints, or a waypoint beyond the other caps."""
    _check_each(waypoints, 'path', 'waypoints', 'limits.max_waypoints', values,
                lambda w: check_objectives(w.pose_targets, w.objectives, values))


def check_batch(problems, values: dict) -> None:
    """Refuse no problems, more than limits.max_batch_problems, or one beyond the caps."""
    if not problems:
        raise InvalidObjectiveError('the batch has no problems; give at least one')

    def check(p) -> None:
        check_objectives(p.pose_targets, p.objectives, values)
        check_joint_list('seed.name', p.seed.name, values, p.seed.position)

    _check_each(problems, 'batch', 'problems', 'limits.max_batch_problems', values, check)


def _check_each(items, whole: str, what: str, limit: str, values: dict, check) -> None:
    """Refuse more ``items`` than the ``limit`` parameter, then ``check`` each by index."""
    if len(items) > values[limit]:
        raise InvalidObjectiveError(
            f'the {whole} has {len(items)} {what}; the limit is {values[limit]} '
            f'(parameter {limit})')
    for k, item in enumerate(items):
        try:
            check(item)
        except IKError as e:
            raise type(e)(f'{what}[{k}]: {e}') from None


def check_joint_list(what: str, names, values: dict, positions=None) -> None:
    """Refuse a joint list longer than limits.max_names, or with absurdly long names."""
    for length in (len(names), len(positions) if positions is not None else 0):
        if length > values['limits.max_names']:
            raise InvalidConfigurationError(
                f'{what} has {length} entries; the limit is {values["limits.max_names"]} '
                '(parameter limits.max_names)')
    _check_names(what, names, UnknownJointError)


def check_budget(timeout: float, max_restarts: int, values: dict) -> None:
    """Refuse a time budget or restart count above limits.max_timeout / limits.max_restarts."""
    if timeout > values['limits.max_timeout']:
        raise InvalidSettingsError(
            f'timeout {timeout:g} s is above the limit {values["limits.max_timeout"]:g} s '
            '(parameter limits.max_timeout)')
    if max_restarts > values['limits.max_restarts']:
        raise InvalidSettingsError(
            f'max_restarts {max_restarts} is above the limit {values["limits.max_restarts"]} '
            '(parameter limits.max_restarts)')


def _check_names(what: str, names: Iterable[str], error: type) -> None:
    for name in names:
        if len(name) > MAX_NAME_LENGTH:
            raise error(
                f'{what}: a name of {len(name)} characters; names are at most '
                f'{MAX_NAME_LENGTH}')
