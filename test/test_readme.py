"""
The README's examples, run as written.

Its Python blocks run as scripts; its service calls go to the node started the way the
README starts it, on a fresh node (no /joint_states), and must succeed.
"""

import os
import re
import subprocess
import sys

import ik_interfaces.srv
import pytest
from ros_helpers import call, NodeProcess
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = open(os.path.join(ROOT, 'README.md')).read()
BLOCKS = re.findall(r'```(\w+)\n(.*?)```', README, flags=re.S)
CALLS = [block for kind, block in BLOCKS if kind == 'bash' and 'ros2 service call' in block]


def test_the_readme_has_the_examples_this_module_runs():
    assert len(CALLS) >= 4 and any(kind == 'python' for kind, _ in BLOCKS)


@pytest.mark.parametrize('code', [block for kind, block in BLOCKS if kind == 'python'])
def test_python_blocks_run(code):
    done = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr


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
