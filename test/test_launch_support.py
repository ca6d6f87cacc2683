"""What the launch file computes, without launch (not installable from PyPI)."""

import ast
import os
import sys

from ik_service.core import URDFError
from ik_service.launch_support import (description_text, GHOST_FRAME_PREFIX, MARKERS_TOPIC,
                                       missing_packages, root_link)
from ik_service.resources import bundled_urdf_path
import pytest
from robots import planar_arm
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_description_is_the_text_when_given_else_the_file_expanded(tmp_path):
    assert root_link(description_text('', bundled_urdf_path())) == 'base_link'
    text = planar_arm()
    assert description_text(text, bundled_urdf_path()) == text
    xacro = tmp_path / 'arm.urdf.xacro'
    xacro.write_text(text.replace('<robot name="planar">', '<robot name="planar" '
                                  'xmlns:xacro="http://www.ros.org/wiki/xacro">'
                                  '<xacro:property name="w" value="0.5"/>'))
    assert root_link(description_text('', str(xacro))) == 'base'
    with pytest.raises(URDFError):
        root_link('<robot name="r"><link name="a"/><link name="b"/></robot>')    # two roots


def test_missing_packages_are_named(monkeypatch):
    monkeypatch.setenv('AMENT_PREFIX_PATH', sys.prefix)     # the set-up's ament index
    assert missing_packages(['ik_service', 'no_such_package', 'rclpy_not_a_package']) == \
        ['no_such_package', 'rclpy_not_a_package']


def test_the_launch_file_declares_what_the_readme_documents():
    with open(os.path.join(ROOT, 'launch', 'ik_service.launch.py')) as f:
        tree = ast.parse(f.read())
    declared = next(ast.literal_eval(node.value) for node in tree.body
                    if isinstance(node, ast.Assign) and node.targets[0].id == 'ARGUMENTS')
    with open(os.path.join(ROOT, 'README.md')) as f:
        readme = f.read()
    for name in declared:
        assert f'`{name}`' in readme or f'{name}:=' in readme, f'launch argument {name}'


def test_the_rviz_config_shows_the_topics_the_node_publishes():
    with open(os.path.join(ROOT, 'config', 'ik_service.rviz')) as f:
        displays = yaml.safe_load(f)['Visualization Manager']['Displays']
    topics = {d['Class'].split('/')[-1] + ' ' + d.get('TF Prefix', ''):
              (d.get('Topic') or d.get('Description Topic'))['Value']
              for d in displays if 'Topic' in d or 'Description Topic' in d}
    assert topics == {'MarkerArray ': MARKERS_TOPIC,
                      'RobotModel ': 'robot_description',
                      'RobotModel ' + GHOST_FRAME_PREFIX.rstrip('/'):
                          GHOST_FRAME_PREFIX + 'robot_description'}
