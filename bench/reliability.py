"""
Load and long-run figures for the node, over DDS on loopback.

    .venv/bin/python bench/reliability.py load --clients 8 --calls 20000
    .venv/bin/python bench/reliability.py soak --seconds 180
    .venv/bin/python bench/reliability.py swap --swaps 40

load: concurrent clients send a mix of valid and invalid SolveIK requests while the
robot_description topic replaces the model several times; every call must be answered.
soak: a teleoperation loop, a new target every 10 ms along a circle, each request seeded
from the previous answer in nearby mode. Both report latency and the node's memory
(RSS, from /proc) over the run. test/test_reliability.py runs short versions of both.
swap: the model is replaced through set_parameters (robot_description_file, two URDFs
in turn) as fast as the node accepts it, while one client keeps calling solve_ik:
how long each swap takes and how many requests are answered meanwhile.
"""
from __future__ import annotations

import argparse
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

from geometry_msgs.msg import Quaternion
from ik_interfaces.srv import SolveIK
from ik_service.conversions import pose_target_msg
from ik_service.core import JointLimits, load_urdf_file
from ik_service.demo import node_command
from ik_service.resources import bundled_urdf_path, default_params_file
import numpy as np
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import JointState
from std_msgs.msg import String

UR5_PATH = os.path.join(sys.prefix, 'lib', 'python3.11', 'site-packages', 'cmeel.prefix', 'share',
                        'example-robot-data', 'robots', 'ur_description', 'urdf', 'ur5_robot.urdf')


# ---------------------------------------------------------------- plumbing
def start_node(namespace: str, urdf: str, extra: tuple = ()) -> subprocess.Popen:
    """Start the node as its own process, as a user runs it; its output goes to a file."""
    args = node_command(urdf, default_params_file(), ('-r', f'__ns:={namespace}', *extra))
    log = tempfile.NamedTemporaryFile('w+', prefix='ik_service_', suffix='.log', delete=False)
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    process.log_path = log.name
    return process


def stop_node(process: subprocess.Popen) -> tuple[int, str]:
    """Interrupt the node like Ctrl-C; return its exit code and the end of its output."""
    process.send_signal(signal.SIGINT)
    try:
        code = process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        code = process.wait()
    with open(process.log_path) as f:
        tail = f.read()[-2000:]
    return code, tail


def rss_mb(pid: int) -> float:
    """Resident memory of a process [MB]."""
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024.0
    return float('nan')


class Caller:
    """One client node with its own executor, so callers can run in parallel threads."""

    def __init__(self, name: str, service: str, kind=SolveIK):
        self.node = rclpy.create_node(name)
        # With Fast DDS every client's reply reader sees the replies to all clients; a
        # deep history keeps this client's own reply from being pushed out under load.
        self.client = self.node.create_client(
            kind, service, qos_profile=QoSProfile(depth=1000,
                                                  reliability=ReliabilityPolicy.RELIABLE))
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        if not self.client.wait_for_service(timeout_sec=30.0):
            raise RuntimeError(f'{service} did not appear')

    def call(self, request, timeout: float = 10.0):
        """(answer or None if none came within timeout, latency [s])."""
        start = time.perf_counter()
        future = self.client.call_async(request)
        self.executor.spin_until_future_complete(future, timeout_sec=timeout)
        latency = time.perf_counter() - start
        if not future.done():
            future.cancel()
            return None, latency
        return future.result(), latency

    def close(self):
        self.executor.shutdown()
        self.node.destroy_node()


def percentile_ms(values, q: float) -> float:
    return float(np.percentile(values, q) * 1e3) if len(values) else float('nan')


# ---------------------------------------------------------------- load
def _requests(count: int, invalid_fraction: float, rng) -> list:
    """Build valid pose requests (poses of random UR5 configurations) and invalid ones."""
    model = load_urdf_file(UR5_PATH)
    poses = model.forward_kinematics(JointLimits.from_model(model).sample(
        rng, np.zeros(6), 256), 'tool0')
    bad = [
        lambda r: setattr(r.pose_targets[0], 'link', 'no_such_link'),
        lambda r: setattr(r.pose_targets[0].pose.pose.position, 'x', math.nan),
        lambda r: setattr(r.pose_targets[0].pose.pose, 'orientation', Quaternion(w=0.0)),
        lambda r: setattr(r, 'seed', JointState(name=['elbow_joint'], position=[0.1, 0.2])),
        lambda r: setattr(r, 'tolerance', -1.0),
    ]
    out = []
    for k in range(count):
        request = SolveIK.Request(pose_targets=[pose_target_msg(poses[k % len(poses)], 'tool0')])
        invalid = rng.random() < invalid_fraction
        if invalid:
            bad[k % len(bad)](request)
        out.append((request, invalid))
    return out


def run_load(clients: int = 8, calls: int = 20000, invalid_fraction: float = 0.25,
             replacements: int = 3, namespace: str = '/load', seed: int = 0) -> dict:
    """Run the load pattern; return counts, throughput, latency and memory figures."""
    rng = np.random.default_rng(seed)
    work = _requests(calls, invalid_fraction, rng)
    node = start_node(namespace, UR5_PATH)
    rclpy.init()
    try:
        publisher_node = rclpy.create_node('load_description_publisher')
        latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL,
                             reliability=ReliabilityPolicy.RELIABLE)
        publisher = publisher_node.create_publisher(
            String, f'{namespace}/robot_description', latched)
        descriptions = [open(p).read() for p in (bundled_urdf_path(), UR5_PATH)]
        callers = [Caller(f'load_client_{k}', f'{namespace}/solve_ik') for k in range(clients)]
        results: list = [None] * calls
        done = [0]
        lock = threading.Lock()

        def client(k: int):
            for i in range(k, calls, clients):
                request, invalid = work[i]
                answer, latency = callers[k].call(request)
                results[i] = (answer, latency, invalid)
                with lock:
                    done[0] += 1

        callers[0].call(work[0][0])            # warm-up before the memory baseline
        rss = [(0, rss_mb(node.pid))]
        threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        marks = [calls * (j + 1) // (replacements + 1) for j in range(replacements)]
        while any(t.is_alive() for t in threads):
            time.sleep(0.05)
            if marks and done[0] >= marks[0]:
                publisher.publish(String(data=descriptions[len(marks) % 2]))
                marks.pop(0)
            if len(rss) < 2 or time.perf_counter() - start > rss[-1][0] + 1.0:
                rss.append((time.perf_counter() - start, rss_mb(node.pid)))
        seconds = time.perf_counter() - start
        rss.append((seconds, rss_mb(node.pid)))
        for c in callers:
            c.close()
        publisher_node.destroy_node()
    finally:
        rclpy.try_shutdown()
        exit_code, node_output = stop_node(node)
    answered = [r for r in results if r is not None and r[0] is not None]
    latencies = [r[1] for r in answered]
    codes: dict = {}
    for answer, _, _ in answered:
        codes[answer.result_code.val] = codes.get(answer.result_code.val, 0) + 1
    return {
        'calls': calls, 'clients': clients, 'answered': len(answered),
        'lost': calls - len(answered), 'seconds': seconds, 'throughput': len(answered) / seconds,
        'p50_ms': percentile_ms(latencies, 50), 'p99_ms': percentile_ms(latencies, 99),
        'max_ms': max(latencies) * 1e3 if latencies else float('nan'),
        'over_200ms': sum(1 for v in latencies if v > 0.2),
        'invalid_answered_success': sum(1 for a, _, bad in answered if bad and a.success),
        'codes': codes, 'rss_mb': rss, 'replacements': replacements, 'node_exit_code': exit_code,
        'node_output': node_output if exit_code else '',
    }


# ---------------------------------------------------------------- swap
def run_swap(swaps: int = 40, namespace: str = '/swap') -> dict:
    """Replace the model through set_parameters ``swaps`` times under a stream of requests."""
    from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
    from rcl_interfaces.srv import SetParameters

    model = load_urdf_file(UR5_PATH)
    node = start_node(namespace, UR5_PATH)
    rclpy.init()
    answered, stop = [0], threading.Event()
    try:
        caller = Caller('swap_client', f'{namespace}/solve_ik')
        target = model.forward_kinematics(np.array([0.3, -1.0, 1.2, -0.8, 0.6, 0.2]), 'tool0')
        request = SolveIK.Request(pose_targets=[pose_target_msg(target, 'tool0')])

        def stream():
            while not stop.is_set():
                answer, _ = caller.call(request)
                answered[0] += answer is not None
        thread = threading.Thread(target=stream)
        thread.start()
        setter = rclpy.create_node('swap_setter')
        client = setter.create_client(SetParameters, f'{namespace}/ik_service/set_parameters')
        client.wait_for_service(timeout_sec=30.0)
        executor = SingleThreadedExecutor()
        executor.add_node(setter)
        durations, refused = [], 0
        started = time.perf_counter()
        for k in range(swaps):
            path = UR5_PATH if k % 2 else bundled_urdf_path()
            value = ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=path)
            t0 = time.perf_counter()
            future = client.call_async(SetParameters.Request(parameters=[
                Parameter(name='robot_description_file', value=value)]))
            executor.spin_until_future_complete(future, timeout_sec=30.0)
            durations.append(time.perf_counter() - t0)
            refused += not future.result().results[0].successful
        elapsed = time.perf_counter() - started
        stop.set()
        thread.join()
        executor.shutdown()
        setter.destroy_node()
        caller.close()
    finally:
        stop.set()
        rclpy.try_shutdown()
        exit_code, _ = stop_node(node)
    return {'swaps': swaps, 'refused': refused, 'seconds': elapsed,
            'swap_p50_ms': percentile_ms(durations, 50),
            'swap_max_ms': max(durations) * 1e3, 'answered': answered[0],
            'node_exit_code': exit_code}


def print_swap(r: dict) -> None:
    print(f"swap: {r['swaps']} model replacements through set_parameters in "
          f"{r['seconds']:.1f} s ({r['refused']} refused): each p50 {r['swap_p50_ms']:.1f} ms, "
          f"max {r['swap_max_ms']:.1f} ms; {r['answered']} requests answered meanwhile "
          f"({r['answered'] / r['seconds']:.0f}/s); node exit code {r['node_exit_code']}")


# ---------------------------------------------------------------- soak
def run_soak(seconds: float = 180.0, period: float = 0.01, window: float = 10.0,
             namespace: str = '/soak') -> dict:
    """Teleoperation pattern; return per-window latency, memory and joint-step figures."""
    model = load_urdf_file(bundled_urdf_path())
    q0 = np.array([0.0, -1.2, 1.4, -1.8, -1.57, 0.0])
    home = model.forward_kinematics(q0, 'tool0')
    node = start_node(namespace, bundled_urdf_path())
    rclpy.init()
    windows, overruns, failures, lost = [], 0, 0, 0
    try:
        caller = Caller('soak_client', f'{namespace}/solve_ik')
        previous = JointState(name=model.joint_names, position=list(q0))
        start = time.perf_counter()
        next_window, latencies, steps = window, [], []
        k = 0
        while True:
            now = time.perf_counter() - start
            if now >= seconds:
                break
            t = k * period
            if now < t:
                time.sleep(t - now)
            elif now > t + period:
                overruns += 1
            pose = home.copy()   # a 10 cm circle at 0.2 Hz, orientation held
            pose[:3, 3] += 0.1 * np.array([math.cos(0.4 * math.pi * t) - 1.0,
                                           math.sin(0.4 * math.pi * t), 0.0])
            request = SolveIK.Request(pose_targets=[pose_target_msg(pose, 'tool0')], seed=previous,
                                      mode=SolveIK.Request.MODE_NEARBY)
            answer, latency = caller.call(request)
            k += 1
            if answer is None:
                lost += 1
                continue
            latencies.append(latency)
            if not answer.success:
                failures += 1
            else:
                steps.append(float(np.abs(np.subtract(answer.solution.position,
                                                      previous.position)).max()))
                previous = JointState(name=list(answer.solution.name),
                                      position=list(answer.solution.position))
            if time.perf_counter() - start >= next_window:
                windows.append({'t': next_window, 'calls': len(latencies),
                                'p50_ms': percentile_ms(latencies, 50),
                                'p99_ms': percentile_ms(latencies, 99),
                                'max_step_rad': max(steps) if steps else float('nan'),
                                'rss_mb': rss_mb(node.pid)})
                next_window += window
                latencies, steps = [], []
        caller.close()
    finally:
        rclpy.try_shutdown()
        exit_code, node_output = stop_node(node)
    return {'seconds': seconds, 'calls': k, 'lost': lost, 'failures': failures,
            'overruns': overruns, 'windows': windows, 'node_exit_code': exit_code,
            'node_output': node_output if exit_code else ''}


# ---------------------------------------------------------------- report
def print_load(r: dict) -> None:
    print(f"load: {r['calls']} calls from {r['clients']} clients, {r['replacements']} model "
          f"replacements: answered {r['answered']}, lost {r['lost']}, "
          f"{r['throughput']:.0f} calls/s, p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, "
          f"max {r['max_ms']:.1f} ms ({r['over_200ms']} calls over 200 ms); "
          f'invalid requests answered with success: '
          f"{r['invalid_answered_success']}; result codes {r['codes']}")
    rss = r['rss_mb']
    print(f'node RSS: start {rss[0][1]:.1f} MB, end {rss[-1][1]:.1f} MB, '
          f'max {max(v for _, v in rss):.1f} MB over {len(rss)} samples')
    step = max(1, len(rss) // 12)
    print('RSS [MB] over time [s]: ' + ', '.join(f'{t:.0f}s {v:.1f}' for t, v in rss[::step]))


def print_soak(r: dict) -> None:
    print(f"soak: {r['calls']} calls in {r['seconds']:.0f} s, lost {r['lost']}, "
          f"failures {r['failures']}, overruns of the 10 ms period {r['overruns']}")
    print(f"{'t [s]':>6s} {'calls':>6s} {'p50 ms':>7s} {'p99 ms':>7s} {'max step rad':>12s} "
          f"{'RSS MB':>7s}")
    for w in r['windows']:
        print(f"{w['t']:6.0f} {w['calls']:6d} {w['p50_ms']:7.2f} {w['p99_ms']:7.2f} "
              f"{w['max_step_rad']:12.4f} {w['rss_mb']:7.1f}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    sub = parser.add_subparsers(dest='what', required=True)
    load = sub.add_parser('load')
    load.add_argument('--clients', type=int, default=8)
    load.add_argument('--calls', type=int, default=20000)
    load.add_argument('--invalid-fraction', type=float, default=0.25)
    load.add_argument('--replacements', type=int, default=3)
    soak = sub.add_parser('soak')
    soak.add_argument('--seconds', type=float, default=180.0)
    swap = sub.add_parser('swap')
    swap.add_argument('--swaps', type=int, default=40)
    args = parser.parse_args(argv)
    os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    if args.what == 'load':
        print_load(run_load(args.clients, args.calls, args.invalid_fraction, args.replacements))
    elif args.what == 'swap':
        print_swap(run_swap(args.swaps))
    else:
        print_soak(run_soak(args.seconds))


if __name__ == '__main__':
    main()
