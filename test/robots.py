"""Robot descriptions for the tests: example-robot-data from PyPI and small hand-written arms."""

from __future__ import annotations

import math
import os
import sys

ROBOTS_DIR = os.path.join(
    sys.prefix,
    'lib',
    f'python{sys.version_info[0]}.{sys.version_info[1]}',
    'site-packages',
    'cmeel.prefix',
    'share',
    'example-robot-data',
    'robots',
)

# (URDF path under ROBOTS_DIR, tip link) of the arms used throughout the tests.
ARMS = {
    'ur5': ('ur_description/urdf/ur5_robot.urdf', 'tool0'),
    'panda': ('panda_description/urdf/panda.urdf', 'panda_hand'),
    'z1': ('z1_description/urdf/z1.urdf', 'link06'),
}


def robot_path(relative: str) -> str:
    """Absolute path of a URDF shipped by example-robot-data."""
    return os.path.join(ROBOTS_DIR, relative)


def planar_arm(lengths=(1.0, 1.0, 1.0), limits=None, extra: str = '') -> str:
    """
    Describe a planar arm in the XY plane: revolute joints about z, links along x [m].

    Links base, l1..lN and a fixed 'tip' at the end of the last link. ``limits`` is a
    list of (lower, upper) per joint, or None for continuous joints.
    """
    links = ['base'] + [f'l{i + 1}' for i in range(len(lengths))] + ['tip']
    out = ['<robot name="planar">'] + [f'  <link name="{n}"/>' for n in links]
    offset = 0.0
    for i, length in enumerate(lengths):
        jtype = 'continuous' if limits is None else 'revolute'
        limit = (
            ''
            if limits is None
            else f'<limit lower="{limits[i][0]}" upper="{limits[i][1]}" effort="1" velocity="1"/>'
        )
        out.append(
            f'  <joint name="j{i + 1}" type="{jtype}"><parent link="{links[i]}"/>'
            f'<child link="{links[i + 1]}"/><origin xyz="{offset} 0 0"/><axis xyz="0 0 1"/>'
            f'{limit}</joint>'
        )
        offset = length
    out.append(
        f'  <joint name="tip_joint" type="fixed"><parent link="{links[-2]}"/><child link="tip"/>'
        f'<origin xyz="{offset} 0 0"/></joint>'
    )
    out.append(extra)
    out.append('</robot>')
    return '\n'.join(out)


def dual_arm() -> str:
    """Describe a torso (revolute about z) with two 3-DOF arms ending in left_tip/right_tip."""
    parts = [
        '<robot name="dual">',
        '<link name="base"/>',
        '<link name="torso"/>',
        '<joint name="torso_yaw" type="revolute"><parent link="base"/><child link="torso"/>'
        '<origin xyz="0 0 0.5"/><axis xyz="0 0 1"/>'
        '<limit lower="-1.5" upper="1.5" effort="1" velocity="1"/></joint>',
    ]
    for side, y in (('left', 0.25), ('right', -0.25)):
        prev = 'torso'
        for k, (axis, xyz) in enumerate(
            [('0 1 0', f'0 {y} 0.2'), ('0 0 1', '0 0 0'), ('0 1 0', '0.35 0 0')]
        ):
            link = f'{side}_l{k + 1}'
            parts += [
                f'<link name="{link}"/>',
                f'<joint name="{side}_j{k + 1}" type="revolute"><parent link="{prev}"/>'
                f'<child link="{link}"/><origin xyz="{xyz}"/><axis xyz="{axis}"/>'
                f'<limit lower="-2.5" upper="2.5" effort="1" velocity="1"/></joint>',
            ]
            prev = link
        parts += [
            f'<link name="{side}_tip"/>',
            f'<joint name="{side}_tip_joint" type="fixed"><parent link="{prev}"/>'
            f'<child link="{side}_tip"/><origin xyz="0.3 0 0"/></joint>',
        ]
    parts.append('</robot>')
    return '\n'.join(parts)


def gripper_with_mimic_and_prismatic() -> str:
    """Describe an arm: prismatic lift, mimic finger pair, rpy-rotated continuous wrist."""
    return f"""<robot name="gripper">
  <link name="base"/><link name="carriage"/><link name="arm"/><link name="wrist"/>
  <link name="finger_a"/><link name="finger_b"/><link name="tcp"/>
  <joint name="lift" type="prismatic"><parent link="base"/><child link="carriage"/>
    <origin xyz="0 0 0.1"/><axis xyz="0 0 1"/>
    <limit lower="0" upper="0.5" effort="1" velocity="1"/></joint>
  <joint name="shoulder" type="revolute"><parent link="carriage"/><child link="arm"/>
    <origin xyz="0.1 0 0" rpy="0.3 -0.2 0.5"/><axis xyz="0 1 0"/>
    <limit lower="-2" upper="2" effort="1" velocity="1"/></joint>
  <joint name="wrist_spin" type="continuous"><parent link="arm"/><child link="wrist"/>
    <origin xyz="0.4 0 0" rpy="0 {math.pi / 2} 0"/><axis xyz="1 1 0"/></joint>
  <joint name="finger_a_joint" type="prismatic"><parent link="wrist"/><child link="finger_a"/>
    <origin xyz="0 0.02 0.1"/><axis xyz="0 1 0"/>
    <limit lower="0" upper="0.04" effort="1" velocity="1"/></joint>
  <joint name="finger_b_joint" type="prismatic"><parent link="wrist"/><child link="finger_b"/>
    <origin xyz="0 -0.02 0.1"/><axis xyz="0 1 0"/>
    <limit lower="-0.04" upper="0" effort="1" velocity="1"/>
    <mimic joint="finger_a_joint" multiplier="-1"/></joint>
  <joint name="tcp_joint" type="fixed"><parent link="wrist"/><child link="tcp"/>
    <origin xyz="0 0 0.15" rpy="0.1 0.2 0.3"/></joint>
</robot>"""
