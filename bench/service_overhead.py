"""
What the ROS service adds to a solve: the same requests through the library and the node.

    .venv/bin/python bench/service_overhead.py [--calls 500]

Each request (a UR5 pose from a random configuration, global mode, a fixed random seed,
the seed sent in the request so that both sides start from the same configuration) is
solved once by ``solve`` in this process and once by a SolveIK round trip to the node
(started as the README starts it, one client, one request at a time). Prints both
medians and p95s and the overhead: round trip minus library time, per request; and the
node's handling as the node times it (the response's solve_time: the request's
conversion, the solve and the response, without the executor and DDS).

The node's own work per request (converting it, ``solve``, filling the response), without
DDS and executors, is timed too: its ``_fill_solve`` called in this process on the same
requests, minus the library solve.

For scale, the same requests also go to the floor: an rclpy node that answers SolveIK
with an empty response the way the node answers a short solve (an async callback on a
single-threaded executor that fills the response itself), with no conversion and no
solve (``--serve-empty`` runs it). The node and the floor take the calls in turns, BLOCK
at a time, so that both meet the machine at the same speed: the median over the blocks of
the difference of their medians is what the node adds to an empty service.
"""
from __future__ import annotations

import argparse
from functools import partial
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from ik_interfaces.srv import SolveIK  # noqa: E402
from ik_service.conversions import pose_target_msg  # noqa: E402
from ik_service.core import (IKObjective, JointLimits, load_urdf_file, solve,  # noqa: E402
                             SolverSettings)
from ik_service.node import IKServiceNode  # noqa: E402
import numpy as np  # noqa: E402
import rclpy  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from reliability import Caller, start_node, stop_node, UR5_PATH  # noqa: E402
from sensor_msgs.msg import JointState  # noqa: E402

BLOCK = 25     # calls to the node, then as many to the floor


def serve_empty() -> None:
    """Answer /overhead_floor/solve_ik with empty responses, as the node answers short solves."""
    rclpy.init()
    node = rclpy.create_node('floor', namespace='/overhead_floor')

    async def answer(request, response):
        return response         # filled on the executor thread, like a short solve

    node.create_service(SolveIK, 'solve_ik', answer)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        executor.spin()
    except KeyboardInterrupt:
        pass


def _block_medians(values: np.ndarray) -> np.ndarray:
    """Median of each BLOCK of consecutive values."""
    return np.array([np.median(values[i:i + BLOCK]) for i in range(0, len(values), BLOCK)])


def start_floor() -> subprocess.Popen:
    """Start ``serve_empty`` in a child process."""
    return subprocess.Popen([sys.executable, os.path.abspath(__file__), '--serve-empty'])


def node_glue(requests: list, library_solves: list) -> float:
    """
    Median [s] of the node's request handling in this process minus the library solve.

    Each request is handled by the node's ``_fill_solve`` right after its library solve
    (``library_solves``: callables), so both run with the same caches.
    """
    node = IKServiceNode(cli_args=['--ros-args', '-r', '__ns:=/overhead_glue', '-p',
                                   f'robot_description_file:={UR5_PATH}'])
    try:
        differences = []
        for request, library_solve in zip(requests, library_solves):
            started = time.perf_counter()
            library_solve()
            solved = time.perf_counter()
            node._guarded(node._fill_solve, request, SolveIK.Response(), solved, lambda: False)
            differences.append(time.perf_counter() - 2 * solved + started)
    finally:
        node.shutdown()
        node.destroy_node()
    return float(np.median(differences))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--calls', type=int, default=500)
    parser.add_argument('--serve-empty', action='store_true', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_empty:
        serve_empty()
        return
    os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    model = load_urdf_file(UR5_PATH)
    limits = JointLimits.from_model(model)
    rng = np.random.default_rng(0)
    goals = limits.sample(rng, np.zeros(model.num_dofs), args.calls)
    seeds = limits.sample(rng, np.zeros(model.num_dofs), args.calls)
    settings = SolverSettings()       # the node's defaults (config/ik_service.yaml)
    node, server = start_node('/overhead', UR5_PATH), start_floor()
    rclpy.init()
    library, service, floor, in_node, requests, library_solves = [], [], [], [], [], []
    try:
        caller = Caller('overhead_client', '/overhead/solve_ik')
        floor_caller = Caller('floor_client', '/overhead_floor/solve_ik')
        for k, (goal, seed) in enumerate(zip(goals, seeds)):
            target = model.forward_kinematics(goal, 'tool0')
            library_solve = partial(
                solve, model, [IKObjective.fixed_pose('tool0', target[:3, :3], target[:3, 3])],
                seed, mode='global', settings=settings, random_seed=k)
            started = time.perf_counter()
            library_solve()
            library.append(time.perf_counter() - started)
            library_solves.append(library_solve)
            requests.append(SolveIK.Request(pose_targets=[pose_target_msg(target, 'tool0')],
                                            seed=JointState(name=model.joint_names,
                                                            position=seed.tolist()),
                                            random_seed=k))
        # the node and the floor in turns, BLOCK calls each: the machine's speed drifts
        # within minutes (a call right after the other server's answer would meet it
        # still busy)
        for first in range(0, len(requests), BLOCK):
            block = requests[first:first + BLOCK]
            for request in block:
                answer, latency = caller.call(request)
                if answer is not None:
                    service.append(latency)
                    in_node.append(answer.solve_time.sec + answer.solve_time.nanosec * 1e-9)
            floor += [floor_caller.call(request)[1] for request in block]
        caller.close()
        floor_caller.close()
        glue = node_glue(requests, library_solves)
    finally:
        rclpy.try_shutdown()
        stop_node(node)
        server.send_signal(2)
        server.wait(timeout=10)
    library_ms, service_ms = np.array(library) * 1e3, np.array(service) * 1e3
    print(f'{len(service)} of {args.calls} calls answered')
    for name, values in (('library solve', library_ms), ('service round trip', service_ms),
                         ('empty service (floor)', np.array(floor) * 1e3)):
        print(f'  {name:22s} p50 {np.median(values):6.3f} ms   p95 '
              f'{np.percentile(values, 95):6.3f} ms')
    print(f'  overhead (round trip p50 - library p50): '
          f'{np.median(service_ms) - np.median(library_ms):.3f} ms')
    added = _block_medians(service_ms) - _block_medians(np.array(floor) * 1e3)
    print(f'  round trip p50 - floor p50, per block of calls, median: {np.median(added):.3f} ms')
    print("  of which the node's own work (request in, response out, no DDS): "
          f'{glue * 1e3:.3f} ms')
    print("  the node's handling of a request, timed in the node (its solve_time), p50: "
          f'{np.median(in_node) * 1e3:.3f} ms')


if __name__ == '__main__':
    main()
