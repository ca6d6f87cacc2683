"""Loading real and malformed robot descriptions."""

from ik_service.core import load_urdf_file, load_urdf_string, URDFError
import numpy as np
import pytest
from robots import planar_arm, robot_path

REAL = [
    'ur_description/urdf/ur5_robot.urdf',
    'panda_description/urdf/panda.urdf',
    'z1_description/urdf/z1.urdf',
    'tiago_description/robots/tiago.urdf',
    'talos_data/robots/talos_reduced.urdf',
    'pr2_description/urdf/pr2.urdf',
    'double_pendulum_description/urdf/double_pendulum.urdf',
    'baxter_description/urdf/baxter.urdf',
]


@pytest.mark.parametrize('relative', REAL)
def test_real_robots_load(relative):
    model = load_urdf_file(robot_path(relative))
    assert model.num_dofs > 0
    assert np.all(model.lower <= model.upper)
    # every link has a finite pose at zero
    for link in model.link_names[:: max(1, len(model.link_names) // 10)]:
        assert np.all(np.isfinite(model.forward_kinematics(np.zeros(model.num_dofs), link)))


def test_pr2_transmissions_and_continuous_joints():
    model = load_urdf_file(robot_path('pr2_description/urdf/pr2.urdf'))
    k = model.joint_id('r_wrist_roll_joint')
    assert model.is_continuous_dof[k]
    assert model.lower[k] == -np.inf and model.upper[k] == np.inf


def test_xacro_file_is_expanded(tmp_path):
    path = tmp_path / 'arm.urdf.xacro'
    path.write_text("""<robot name="x" xmlns:xacro="http://www.ros.org/wiki/xacro">
      <xacro:property name="len" value="0.7"/>
      <link name="a"/><link name="b"/>
      <joint name="j" type="revolute"><parent link="a"/><child link="b"/>
        <origin xyz="${len} 0 0"/><axis xyz="0 0 1"/>
        <limit lower="-1" upper="1" effort="1" velocity="1"/></joint>
    </robot>""")
    model = load_urdf_file(str(path))
    assert model.forward_kinematics(np.zeros(1), 'b')[0, 3] == pytest.approx(0.7)


def test_floating_joint_is_treated_as_fixed_with_a_warning():
    model = load_urdf_string(
        planar_arm(
            extra='<link name="obj"/><joint name="free" type="floating">'
            '<parent link="tip"/><child link="obj"/></joint>'
        )
    )
    assert 'free' not in model.joint_names
    assert any('floating' in w for w in model.warnings)


ARM = planar_arm(limits=[(-1, 1)] * 3)
BAD = {
    'empty': ('', 'empty'),
    'not xml': ('<robot name="a"><link name="x">', 'well-formed'),
    'wrong root': ('<model/>', '<robot>'),
    'no links': ('<robot name="a"/>', 'no <link>'),
    'missing parent link': (ARM.replace('<link name="base"/>', ''), "'base'"),
    'cycle': (
        '<robot name="c"><link name="a"/><link name="b"/>'
        '<joint name="j1" type="fixed"><parent link="a"/><child link="b"/></joint>'
        '<joint name="j2" type="fixed"><parent link="b"/><child link="a"/></joint></robot>',
        'cycle',
    ),
    'two roots': ('<robot name="c"><link name="a"/><link name="b"/></robot>', 'no parent'),
    'duplicate link': (
        ARM.replace('<link name="l1"/>', '<link name="l1"/><link name="l1"/>'),
        'duplicate',
    ),
    'zero axis': (
        ARM.replace('<axis xyz="0 0 1"/>', '<axis xyz="0 0 0"/>', 1),
        'zero-length axis',
    ),
    'inverted limits': (
        ARM.replace('lower="-1" upper="1"', 'lower="1" upper="-1"', 1),
        'above upper',
    ),
    'unknown joint type': (ARM.replace('type="revolute"', 'type="helical"', 1), 'helical'),
    'nan origin': (ARM.replace('<origin xyz="0.0 0 0"/>', '<origin xyz="nan 0 0"/>', 1), 'finite'),
    'prismatic without limit': (
        '<robot name="p"><link name="a"/><link name="b"/><joint name="j" '
        'type="prismatic"><parent link="a"/><child link="b"/></joint></robot>',
        'limit',
    ),
    'mimic of unknown joint': (
        ARM.replace('</joint>', '<mimic joint="nope"/></joint>', 1),
        'nope',
    ),
    'unexpanded xacro': (
        '<robot name="x" xmlns:xacro="http://www.ros.org/wiki/xacro"><link name="a"/>'
        '<xacro:property name="p" value="1"/></robot>',
        'xacro',
    ),
}


@pytest.mark.parametrize('case', sorted(BAD))
def test_malformed_descriptions_raise_a_urdf_error_that_says_why(case):
    text, fragment = BAD[case]
    with pytest.raises(URDFError) as info:
        load_urdf_string(text)
    assert fragment.lower() in str(info.value).lower()


def test_huge_description_is_refused():
    with pytest.raises(URDFError, match='limit'):
        load_urdf_string('<robot name="a">' + ' ' * (51 * 1024 * 1024) + '</robot>')


def test_missing_file():
    with pytest.raises(URDFError, match='does not exist'):
        load_urdf_file('/nonexistent/robot.urdf')


def test_a_huge_axis_is_normalised_not_overflowed():
    huge = planar_arm().replace('<axis xyz="0 0 1"/>', '<axis xyz="0 1e308 1e308"/>', 1)
    model = load_urdf_string(huge)
    q = np.array([0.5, 0.0, 0.0])
    axis = np.array([0.0, 1.0, 1.0]) / np.sqrt(2.0)
    # a rotation about a unit axis keeps the axis itself fixed
    rotation = model.forward_kinematics(q, 'l1')[:3, :3]
    np.testing.assert_allclose(rotation @ axis, axis, atol=1e-12)
    assert abs(np.trace(rotation) - (1 + 2 * np.cos(0.5))) < 1e-12


def test_limits_beyond_a_million_are_unbounded_on_their_own_side_and_refused_otherwise():
    wide = planar_arm(limits=[(-1e7, 1e7), (-1, 1), (-1, 1)])
    model = load_urdf_string(wide)
    assert model.lower[0] == -np.inf and model.upper[0] == np.inf
    with pytest.raises(URDFError, match='beyond'):
        load_urdf_string(planar_arm(limits=[(2e6, 3e6), (-1, 1), (-1, 1)]))
