"""
Teleoperation through the node: a pose stream at a fixed rate in, joint commands out.

    .venv/bin/python bench/stream_bench.py [--rate 500] [--seconds 60] [--out-of-reach 0]
                                           [--robot ur5] [--turn-seconds 4]

The node runs as users start it, with ``stream.target_topic`` set (the arm's tip link of
``ik_bench.ROBOTS``). One thread publishes PoseStamped targets in the arm's base link
along a 10 cm circle (one turn per --turn-seconds) at --rate, stamped when sent, from the
tip's pose at a start configuration (UR5: a fixed one; another arm: one drawn in the
middle half of each joint's range); the "robot" reports each command back on
/joint_states. With --out-of-reach F, the first fraction F of every turn's targets are
1 m further out, beyond the arm's reach (an operator's hand leaving the workspace: the
node holds the last command).

Per 10 s window: targets sent, commands received, targets the node dropped because a
newer one came (never queued), targets met, approached (the command moved toward a target
farther than one step allows) and held, the latency from a target's stamp to the arrival
of its status here (p50, p99, max), and the node's RSS; then the latency of the targets
not met.
"""
from __future__ import annotations

import argparse
import gc
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from geometry_msgs.msg import PoseStamped  # noqa: E402
from ik_bench import Arm  # noqa: E402
from ik_interfaces.msg import StreamStatus  # noqa: E402
from ik_service.conversions import pose_target_msg  # noqa: E402
import numpy as np  # noqa: E402
import rclpy  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from reliability import rss_mb, start_node, stop_node  # noqa: E402
from sensor_msgs.msg import JointState  # noqa: E402

UR5_START = np.array([0.3, -1.2, 1.4, -1.6, -1.5, 0.2])


def start_configuration(robot: str, arm: Arm) -> np.ndarray:
    """Return the configuration (n,) the robot starts at: UR5's fixed one, else mid-range."""
    if robot == 'ur5':
        return arm.full(UR5_START)
    return arm.full(arm.middle_start(np.random.default_rng(0)))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--rate', type=float, default=500.0)
    parser.add_argument('--seconds', type=float, default=60.0)
    parser.add_argument('--out-of-reach', type=float, default=0.0)
    parser.add_argument('--robot', default='ur5', help='a robot of ik_bench.ROBOTS')
    parser.add_argument('--turn-seconds', type=float, default=4.0,
                        help='one turn of the circle takes this long [s] (a fast hand: 1)')
    args = parser.parse_args(argv)
    os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    arm = Arm(args.robot)
    node = start_node('/teleop', arm.path,
                      ('-p', 'stream.target_topic:=target', '-p', f'stream.link:={arm.tip}'))
    rclpy.init()
    client = rclpy.create_node('stream_bench')
    model = arm.model
    start_q = start_configuration(args.robot, arm)
    start = arm.root_to_base @ model.forward_kinematics(start_q, arm.tip)
    best_effort = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)
    targets = client.create_publisher(PoseStamped, '/teleop/target', best_effort)
    states = client.create_publisher(JointState, '/teleop/joint_states', 10)
    arrivals = []       # (arrival time [s], target stamp [s], success, dropped so far)
    commands = []

    def on_status(msg):
        arrivals.append((client.get_clock().now().nanoseconds * 1e-9,
                         msg.target_stamp.sec + msg.target_stamp.nanosec * 1e-9, msg.success,
                         msg.dropped, msg.held))

    def on_command(msg):
        commands.append(None)
        states.publish(msg)             # the robot follows

    client.create_subscription(StreamStatus, '/teleop/ik_service/stream_status', on_status, 1000)
    client.create_subscription(JointState, '/teleop/ik_service/joint_command', on_command, 1000)
    executor = SingleThreadedExecutor()
    executor.add_node(client)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()

    def pose_at(t, out_of_reach=args.out_of_reach):
        pose = start.copy()
        angle = 2 * np.pi * t / args.turn_seconds
        pose[:3, 3] += 0.1 * np.array([np.cos(angle) - 1, np.sin(angle), 0.0])
        if (t / args.turn_seconds) % 1.0 < out_of_reach:
            pose[:3, 3] += [1.0, 0.0, 0.0]
        msg = PoseStamped(pose=pose_target_msg(pose, arm.tip).pose.pose)
        msg.header.frame_id = arm.base
        msg.header.stamp = client.get_clock().now().to_msg()
        return msg

    # the robot is at its start; wait until the stream answers
    deadline = time.monotonic() + 30
    while not arrivals and time.monotonic() < deadline:
        states.publish(JointState(name=model.joint_names, position=start_q.tolist()))
        targets.publish(pose_at(0.0, out_of_reach=0.0))
        time.sleep(0.1)
    if not arrivals:
        raise SystemExit('the node did not answer the stream')
    time.sleep(0.5)
    arrivals.clear()
    commands.clear()
    # this process's start-up objects (numba's among them) out of the cyclic collector's
    # sight, as in the node: its full collections would add pauses to what is measured
    gc.freeze()
    sent, period, began = [], 1.0 / args.rate, time.monotonic()
    k = 0
    while True:
        due = began + k * period
        if due - began >= args.seconds:
            break
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        msg = pose_at(k * period)
        targets.publish(msg)
        sent.append(time.monotonic() - began)
        k += 1
    time.sleep(0.5)
    rss = rss_mb(node.pid)
    executor.shutdown()
    client.destroy_node()
    rclpy.try_shutdown()
    stop_node(node)

    stamps = np.array([stamp for _, stamp, *_ in arrivals])
    latency = np.array([t for t, *_ in arrivals]) - stamps
    at = stamps - stamps.min() if len(stamps) else stamps
    print(f'stream at {args.rate:g} Hz for {args.seconds:g} s: {len(sent)} targets sent, '
          f'{len(commands)} commands, {len(arrivals)} statuses, '
          f'{arrivals[-1][3] if arrivals else 0} targets dropped for a newer one, '
          f'{sum(not ok for _, _, ok, *_ in arrivals)} not met; node RSS {rss:.1f} MB at the end')
    held = np.array([h for *_, h in arrivals], dtype=bool)
    met = np.array([ok for _, _, ok, *_ in arrivals], dtype=bool)
    print(f"{'t [s]':>6s} {'answered':>9s} {'met':>6s} {'toward':>6s} {'held':>6s} "
          f"{'p50 ms':>7s} {'p99 ms':>7s} {'max ms':>7s}")
    for w in range(int(np.ceil(args.seconds / 10))):
        inside = (at >= 10 * w) & (at < 10 * (w + 1))
        if inside.any():
            ms = latency[inside] * 1e3
            toward = ~met[inside] & ~held[inside]
            print(f'{10 * (w + 1):6d} {int(inside.sum()):9d} {int(met[inside].sum()):6d} '
                  f'{int(toward.sum()):6d} {int(held[inside].sum()):6d} '
                  f'{np.median(ms):7.2f} {np.percentile(ms, 99):7.2f} {ms.max():7.2f}')
    if (~met).any():
        ms = latency[~met] * 1e3
        print(f'targets not met (approached or held): {int((~met).sum())}, their latency p50 '
              f'{np.median(ms):.2f} ms, max {ms.max():.2f} ms')


if __name__ == '__main__':
    main()
