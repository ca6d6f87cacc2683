"""
The README's examples, run as written.

Its Python blocks run as scripts; its service calls go to the node started the way the
README starts it, on a fresh node (no /joint_states), and must succeed.
"""

import json
import os
import re
import subprocess
import sys

import ik_interfaces.srv
import pytest
from ros_helpers import call, NodeProcess, wait_for
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = open(os.path.join(ROOT, 'README.md')).read()
BLOCKS = re.findall(r'```(\w+)\n(.*?)```', README, flags=re.S)
CALLS = [block for kind, block in BLOCKS if kind == 'bash' and 'ros2 service call' in block]


def test_the_readme_has_the_examples_this_module_runs():
    python = [block for kind, block in BLOCKS if kind == 'python']
    assert len(CALLS) >= 4 and any('rclpy' in b for b in python) and \
        any('rclpy' not in b for b in python)


@pytest.mark.parametrize('code', [block for kind, block in BLOCKS if kind == 'python'])
def test_python_blocks_run(request, code):
    if 'rclpy' in code:                 # a client: it calls the node the README starts
        request.getfixturevalue('readme_node')
    done = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def _parse_call(block: str):
    """Return (service, service class, request fields) of a ``ros2 service call`` block."""
    text = block.replace('\\\n', ' ')
    match = re.search(r'ros2 service call (\S+) (\S+)\s+"(.*)"', text, flags=re.S)
    package, _, name = match.group(2).split('/')
    assert package == 'ik_interfaces'
    return match.group(1), getattr(ik_interfaces.srv, name), yaml.safe_load(match.group(3))


def _fill(message, fields: dict):
    """Set a ROS message's fields from the YAML form ``ros2 service call`` reads."""
    types = message.get_fields_and_field_types()
    for key, value in fields.items():
        kind = types[key]
        if isinstance(value, dict):
            _fill(getattr(message, key), value)
        elif isinstance(value, list) and kind.startswith('sequence<') and '/' in kind:
            package, name = kind[len('sequence<'):-1].split('/')
            module = __import__(f'{package}.msg', fromlist=[name])
            items = []
            for item in value:
                element = getattr(module, name)()
                _fill(element, item)
                items.append(element)
            setattr(message, key, items)
        elif kind in ('double', 'float'):
            setattr(message, key, float(value))
        else:
            setattr(message, key, value)
    return message


@pytest.fixture(scope='module')
def readme_node(ros):
    # the README's command, from the repository root
    proc = NodeProcess('--params-file', os.path.join(ROOT, 'config', 'ik_service.yaml'),
                       '-p', 'robot_description_file:=' +
                       os.path.join(ROOT, 'ik_service', 'robots', 'ur5e.urdf'))
    yield proc
    assert proc.stop() == 0, proc.output()


@pytest.mark.parametrize('block', CALLS)
def test_service_calls_answer_as_written_on_a_fresh_node(ros, readme_node, block):
    service, kind, fields = _parse_call(block)
    client = ros.create_client(kind, service)
    assert client.wait_for_service(timeout_sec=30.0), readme_node.output()
    answer = call(ros, client, _fill(kind.Request(), fields))
    assert answer.success, answer.message
    ros.destroy_client(client)


def test_a_nearby_request_the_seed_cannot_reach_says_where_the_seed_came_from(ros, readme_node):
    import numpy as np
    from ik_service.conversions import pose_target_msg
    from ik_service.core import load_urdf_file
    model = load_urdf_file(os.path.join(ROOT, 'ik_service', 'robots', 'ur5e.urdf'))
    far = model.forward_kinematics(np.array([1.0, -1.2, 1.4, -1.6, -1.5, 0.2]), 'tool0')
    client = ros.create_client(ik_interfaces.srv.SolveIK, '/solve_ik')
    assert client.wait_for_service(timeout_sec=30.0)
    answer = call(ros, client, ik_interfaces.srv.SolveIK.Request(
        pose_targets=[pose_target_msg(far, 'tool0')], mode=3, max_deviation=0.1))
    assert not answer.success
    assert 'seed from zeros clipped into the limits: no /joint_states received' in answer.message
    assert 'nearby mode: no joint moved more than 0.1' in answer.message
    ros.destroy_client(client)


def test_the_set_up_venv_registers_the_package_like_an_install(monkeypatch):
    # what ros2 run / ros2 launch look up, with the venv as the prefix (README): the ament
    # index, the share folder, the node's script
    from ament_index_python.packages import get_package_prefix, get_package_share_directory
    monkeypatch.setenv('AMENT_PREFIX_PATH', sys.prefix)
    share = get_package_share_directory('ik_service')
    assert os.path.isfile(os.path.join(share, 'launch', 'ik_service.launch.py'))
    assert os.path.isfile(os.path.join(share, 'config', 'ik_service.yaml'))
    assert os.access(os.path.join(get_package_prefix('ik_service'), 'lib', 'ik_service',
                                  'ik_service_node'), os.X_OK)


def test_the_teleoperation_parameter_file_starts_the_stream(ros, tmp_path):
    text = next(block for kind, block in BLOCKS if kind == 'yaml' and 'stream:' in block)
    params = tmp_path / 'teleop.yaml'
    params.write_text(text)
    proc = NodeProcess('--params-file', str(params), '-p', 'robot_description_file:=' +
                       os.path.join(ROOT, 'ik_service', 'robots', 'ur5e.urdf'),
                       '-r', '__ns:=/readme_teleop')
    try:
        client = ros.create_client(ik_interfaces.srv.SolveIK, '/readme_teleop/solve_ik')
        assert client.wait_for_service(timeout_sec=30.0), proc.output()
        expected = ('/readme_teleop/ik_service/joint_command', '/hand_pose',
                    '/arm_controller/joint_trajectory')

        def all_discovered():       # discovery tells of a node's topics in no set order
            topics = dict(ros.get_topic_names_and_types())
            return topics if all(e in topics for e in expected) else None

        topics = wait_for(all_discovered)
        assert topics['/readme_teleop/ik_service/joint_command'] == \
            ['sensor_msgs/msg/JointState'], topics
        ros.destroy_client(client)
    finally:
        assert proc.stop() == 0, proc.output()


def test_the_relabelling_commands_run_as_written_and_the_provenance_is_what_they_write(
        tmp_path):
    block, = [b for kind, b in BLOCKS if kind == 'bash' and 'relabel.example' in b]
    script = block.replace('/tmp/', f'{tmp_path}/').replace('.venv/bin/python', sys.executable)
    done = subprocess.run(['bash', '-ec', script], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    shown, = [b for kind, b in BLOCKS if kind == 'json' and 'ik_provenance' in b]
    written = json.loads((tmp_path / 'joint_dataset' / 'meta' / 'info.json').read_text())
    record = written['ik_provenance']
    shown = json.loads('{' + shown.replace('...', '') + '}')['ik_provenance']
    assert shown['config'] == record['config'] and shown['columns'] == record['columns']
    assert sorted(shown) == sorted(record)
    assert record['urdf_sha256'].startswith(shown['urdf_sha256'])
    assert record['input_sha256'].startswith(shown['input_sha256'])     # the same bytes
