"""
Start ik_service on the bundled UR5e and show it answering real service calls.

    ik_service_demo            # start the node, call both services, keep serving (Ctrl-C)
    ik_service_demo --exit     # ... and exit after the calls

The node runs as its own process (``python -m ik_service --ros-args ...``), exactly as a
user would start it; this client talks to it over DDS.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys

from geometry_msgs.msg import Point
from ik_interfaces.msg import IKObjective
from ik_interfaces.srv import ComputeResidual, SolveIK
from ik_service.conversions import pose_target_msg
from ik_service.core import load_urdf_file
from ik_service.resources import bundled_urdf_path, default_params_file
import numpy as np
import rclpy


def node_command(urdf: str, params: str, extra: tuple = ()) -> list[str]:
    """Build the command line that starts the node with a URDF file and a parameter file."""
    return [
        sys.executable,
        '-m',
        'ik_service',
        '--ros-args',
        '--params-file',
        params,
        '-p',
        f'robot_description_file:={urdf}',
        *extra,
    ]


def call(node, client, request, timeout: float = 10.0):
    """Call a service and wait for the answer."""
    future = client.call_async(request)
    rclpy.spin_until_future_complete(node, future, timeout_sec=timeout)
    if not future.done():
        raise RuntimeError(f'no answer from {client.srv_name} within {timeout} s')
    return future.result()


def run_calls(urdf: str) -> bool:
    """Call /solve_ik and /compute_residual on a running node; print and check the answers."""
    model = load_urdf_file(urdf)
    target_q = np.array([0.3, -1.2, 1.4, -1.6, -1.5, 0.2])
    pose = model.forward_kinematics(target_q, 'tool0')
    node = rclpy.create_node('ik_service_demo')
    try:
        solve = node.create_client(SolveIK, 'solve_ik')
        residual = node.create_client(ComputeResidual, 'compute_residual')
        for c in (solve, residual):
            if not c.wait_for_service(timeout_sec=30.0):
                print(f'service {c.srv_name} did not appear within 30 s', file=sys.stderr)
                return False
        target = pose_target_msg(pose, 'tool0', 'base_link')
        o = target.pose.pose.orientation
        print(
            f'--> /solve_ik: tool0 to position {np.round(pose[:3, 3], 4).tolist()} m, '
            f'orientation (x, y, z, w) {np.round([o.x, o.y, o.z, o.w], 4).tolist()}'
        )
        answer = call(node, solve, SolveIK.Request(pose_targets=[target]))
        print(f'<-- success={answer.success} code={answer.result_code.val} {answer.message}')
        for name, value in zip(answer.solution.name, answer.solution.position):
            print(f'      {name:22s} {value:+.5f}')
        achieved = model.forward_kinematics(np.array(answer.solution.position), 'tool0')
        err = float(np.linalg.norm(achieved[:3, 3] - pose[:3, 3]))
        print(f'    forward kinematics of the answer: position error {err:.2e} m')

        goal = IKObjective(
            link='tool0',
            pos_type=IKObjective.POS_FIXED,
            rot_type=IKObjective.ROT_NONE,
            target_points=[Point(x=0.4, y=0.2, z=0.3)],
        )
        config = answer.solution
        print('--> /compute_residual: tool0 origin vs point (0.4, 0.2, 0.3) at that configuration')
        res = call(
            node,
            residual,
            ComputeResidual.Request(
                objectives=[goal], configuration=config, compute_jacobian=True
            ),
        )
        print(
            f'<-- success={res.success} residual {np.round(res.residual, 4).tolist()} m, '
            f'jacobian {res.jacobian_rows}x{len(res.jacobian_columns)}'
        )
        return bool(answer.success and err < 1e-4 and res.success)
    finally:
        node.destroy_node()


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv=None) -> int:
    """Console script ``ik_service_demo``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--exit', action='store_true', help='exit after the demo calls')
    parser.add_argument('--urdf', default=bundled_urdf_path(), help='robot (.urdf or .xacro)')
    parser.add_argument('--params-file', default=default_params_file(), help='node parameters')
    args = parser.parse_args(argv)
    print('starting: ' + ' '.join(node_command(args.urdf, args.params_file)))
    server = subprocess.Popen(node_command(args.urdf, args.params_file))
    # SIGTERM (kill, a supervisor) ends the demo like Ctrl-C, so the node is stopped too
    signal.signal(signal.SIGTERM, _interrupt)
    rclpy.init()
    ok = False
    try:
        ok = run_calls(args.urdf)
        print('demo calls ' + ('succeeded' if ok else 'FAILED'))
        if ok and not args.exit:
            print('ik_service keeps serving /solve_ik and /compute_residual; Ctrl-C to stop.')
            server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        rclpy.try_shutdown()
        if server.poll() is None:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
