"""Both packages build with colcon from a workspace, and the installed node serves requests."""
import os
import subprocess
import sys

from ik_interfaces.srv import SolveIK
from ik_service.core import load_urdf_file
import numpy as np
import pytest
import rclpy
from ros_helpers import call, NodeProcess
from test_node import pose_target, q_of

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_colcon_build_and_run_the_installed_node(tmp_path):
    src = tmp_path / 'src'
    src.mkdir()
    os.symlink(ROOT, src / 'ik_service')
    env = dict(os.environ, AMENT_PREFIX_PATH=sys.prefix,
               PATH=os.path.join(sys.prefix, 'bin') + os.pathsep + os.environ.get('PATH', ''))
    build = subprocess.run(
        [os.path.join(sys.prefix, 'bin', 'colcon'), 'build', '--base-paths', 'src/ik_service',
         'src/ik_service/ik_interfaces', '--cmake-args', f'-DPython3_EXECUTABLE={sys.executable}',
         '-DBUILD_TESTING=OFF'],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stdout + build.stderr

    install = tmp_path / 'install'
    share = install / 'ik_service' / 'share' / 'ik_service'
    executable = install / 'ik_service' / 'lib' / 'ik_service' / 'ik_service_node'
    index = install / 'ik_service' / 'share' / 'ament_index' / 'resource_index' / 'packages'
    for path in (executable, share / 'launch' / 'ik_service.launch.py',
                 share / 'config' / 'ik_service.yaml', share / 'urdf' / 'ur5e.urdf',
                 install / 'ik_interfaces' / 'share' / 'ik_interfaces' / 'srv' / 'SolveIK.srv',
                 index / 'ik_service'):
        assert path.exists(), path

    urdf = str(share / 'urdf' / 'ur5e.urdf')
    node = NodeProcess('--params-file', str(share / 'config' / 'ik_service.yaml'),
                       '-p', f'robot_description_file:={urdf}', '-r', '__ns:=/colcon',
                       executable=['bash', '-c', f'source {install}/setup.bash && exec "$0" "$@"',
                                   str(executable)], env=env)
    rclpy.init()
    client_node = rclpy.create_node('colcon_test_client')
    try:
        client = client_node.create_client(SolveIK, '/colcon/solve_ik')
        assert client.wait_for_service(timeout_sec=30), node.output()
        model = load_urdf_file(urdf)
        goal = model.forward_kinematics(np.array([0.2, -1.0, 1.2, -1.0, -1.3, 0.4]), 'tool0')
        answer = call(client_node, client, SolveIK.Request(pose_targets=[pose_target(goal)]))
        assert answer.success, answer.message
        reached = model.forward_kinematics(q_of(answer.solution, model), 'tool0')
        assert np.linalg.norm(reached[:3, 3] - goal[:3, 3]) <= 1e-5
    finally:
        client_node.destroy_node()
        rclpy.shutdown()
        assert node.stop() == 0, node.output()
    # the node that answered is the installed one, not the source tree
    assert f'ik_service from {install}' in node.output(), node.output()
