"""Between messages and the core: objectives, joint values, durations and result codes."""

import math

from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Point, Quaternion
from ik_interfaces.msg import IKObjective as IKObjectiveMsg
from ik_interfaces.msg import ResultCode
from ik_service import conversions as conv
from ik_service.core import (InvalidConfigurationError, InvalidObjectiveError,
                             load_urdf_string, UnknownFrameError, UnknownJointError,
                             UnknownLinkError)
import numpy as np
import pytest
from robots import planar_arm
import yaml

ARM = load_urdf_string(planar_arm())


def test_pose_targets_come_first_then_objectives_with_their_kinds():
    pose = np.eye(4)
    pose[:3, 3] = [0.5, 1.0, 0.0]
    msg = IKObjectiveMsg(link='tip', ref_link='l1', pos_type=IKObjectiveMsg.POS_PLANAR,
                         rot_type=IKObjectiveMsg.ROT_AXIAL, target_points=[Point(x=1.0)],
                         direction=Point(z=2.0), local_axis=Point(x=1.0),
                         target_axis=Point(y=1.0))
    objectives = conv.objectives_from_request([conv.pose_target_msg(pose, 'tip', 'base')], [msg])
    first, second = objectives
    assert first.position == 'fixed' and first.rotation == 'fixed'
    assert first.ref_link == 'base' and first.target_points.tolist() == [[0.5, 1.0, 0.0]]
    np.testing.assert_allclose(first.target_rotation, np.eye(3))
    assert second.position == 'planar' and second.rotation == 'axial'
    assert second.direction.tolist() == [0.0, 0.0, 1.0]      # normalised
    assert second.local_points.tolist() == [[0.0, 0.0, 0.0]]  # empty = the link origin


def test_the_message_defaults_to_a_point_and_refuses_an_orientation_without_its_type():
    point = conv.objective_from_msg(IKObjectiveMsg(link='tip', target_points=[Point(x=1.0)]))
    assert point.position == 'fixed' and point.rotation == 'none'     # as a Klampt point
    with pytest.raises(InvalidObjectiveError, match='target_orientation given but rot_type'):
        conv.objective_from_msg(IKObjectiveMsg(link='tip', target_points=[Point()],
                                               target_orientation=Quaternion(x=1.0, w=0.0)))


@pytest.mark.parametrize('field, value, words', [
    ('pos_type', 7, 'pos_type 7'),
    ('rot_type', 9, 'rot_type 9'),
    ('target_orientation', Quaternion(w=0.0), 'quaternion'),
])
def test_malformed_objective_messages_say_what_to_fix(field, value, words):
    msg = IKObjectiveMsg(link='tip', target_points=[Point()], rot_type=IKObjectiveMsg.ROT_FIXED)
    setattr(msg, field, value)
    with pytest.raises(InvalidObjectiveError, match=words):
        conv.objectives_from_request([], [msg])
    with pytest.raises(InvalidObjectiveError, match='no pose_targets and no objectives'):
        conv.objectives_from_request([], [])


def test_joint_values_skip_nan_and_refuse_what_is_not_a_configuration():
    names = ARM.joint_names
    values = conv.joint_values(ARM, names, [0.1, math.nan, 0.3], 'seed')
    assert values == {names[0]: 0.1, names[2]: 0.3}
    with pytest.raises(InvalidConfigurationError, match='name has 3 entries but position has 2'):
        conv.joint_values(ARM, names, [0.1, 0.2], 'seed')
    with pytest.raises(InvalidConfigurationError, match='finite'):
        conv.joint_values(ARM, names[:1], [math.inf], 'seed')
    with pytest.raises(UnknownJointError):
        conv.joint_values(ARM, ['elbow'], [0.0], 'seed')
    layered = conv.configuration(ARM, np.zeros(3), {names[0]: 1.0, 'other': 5.0},
                                 {names[0]: 2.0, names[1]: 3.0})
    assert layered.tolist() == [2.0, 3.0, 0.0]      # later layers win, unknown names ignored


def test_durations_keep_full_resolution():
    assert conv.duration_to_seconds(Duration(sec=0, nanosec=30_000_000)) == pytest.approx(0.03)
    d = conv.seconds_to_duration(1.25)
    assert (d.sec, d.nanosec) == (1, 250_000_000)


def test_result_codes_follow_moveit_where_a_meaning_matches():
    assert conv.result_code_for(UnknownFrameError('x')) == ResultCode.FRAME_TRANSFORM_FAILURE
    assert conv.result_code_for(UnknownLinkError('x')) == ResultCode.INVALID_LINK_NAME == -18
    assert conv.result_code_for(InvalidConfigurationError('x')) == -17
    assert conv.result_code_for(RuntimeError('x')) == ResultCode.FAILURE


def test_settings_written_as_yaml_read_back_unchanged():
    values = {
        'tolerance': 1e-05, 'timeout': 0.05, 'huge': 1.5e300, 'tiny': -5e-324, 'whole': 3.0,
        'inf': math.inf, 'count': 100, 'numpy': np.float64(0.1), 'flag': True, 'off': False,
        'nothing': None, 'mode': 'global', 'tricky': 'a: "b" # c\n\\ \u00e9 \U0001F916 yes',
        'number_like': '1e-5', 'names': ['j1', 'null', "it's"], 'empty': [],
    }
    text = conv.yaml_mapping(values)
    assert yaml.safe_load(text) == {k: (float(v) if isinstance(v, np.floating) else v)
                                    for k, v in values.items()}
    assert math.isnan(yaml.safe_load(conv.yaml_mapping({'x': math.nan}))['x'])
    assert text.startswith('tolerance: 1.0e-05\ntimeout: 0.05\n')
