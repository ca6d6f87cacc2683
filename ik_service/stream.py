"""
Teleoperation mode: follow a stream of target poses with smooth joint commands.

The node subscribes to ``stream.target_topic`` (geometry_msgs/PoseStamped, best effort,
depth 1) and, for each target, publishes the joint command that puts ``stream.link`` at
it (sensor_msgs/JointState on ``stream.command_topic``; also a one-point
trajectory_msgs/JointTrajectory on ``stream.trajectory_topic`` for ros2_control's
joint_trajectory_controller when set) and a StreamStatus on ``~/stream_status``.

Each target is solved from the last command, inside a box of ``stream.max_joint_velocity``
times the time since the last command changed (at most 0.1 s), with the last command as
the bias (``core.paths.solve_near``): commands never jump between solution branches. A
target met farther from the last command than the box allows (a hand that moved faster
than the arm may, or came back into reach elsewhere) is approached: the command moves
along the straight joint-space line toward the solution a descent from the last command
finds, as far as the box allows. A target that cannot be met (out of reach, or no descent
from the last command meets it) holds the last command (it is published again) and says
why in the status. The last command is re-synced from /joint_states when they differ by
more than ``stream.resync_threshold`` (the robot was moved by something else). Targets are
not queued: one thread solves the newest target; older ones that arrive meanwhile are
dropped (counted in the status).
"""

from __future__ import annotations

from dataclasses import replace
import threading
import time
from typing import Callable, Optional

from builtin_interfaces.msg import Duration
from geometry_msgs.msg import PoseStamped
from ik_interfaces.msg import StreamStatus
from ik_service import conversions as conv
from ik_service.core import IKError, JointLimits, RobotModel, SolverSettings
from ik_service.core.paths import solve_near
from ik_service.core.solver import CANCELLED, result_at, solve, UNREACHABLE
import numpy as np
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import JointState
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

# The box of a step is velocity times the time since the last command changed, within these [s].
SHORTEST_STEP_TIME, LONGEST_STEP_TIME = 1e-3, 0.1


class TargetStream:
    """Solve the newest target of a pose stream on its own thread and publish commands."""

    def __init__(self, node, values: dict, model: Callable[[], Optional[RobotModel]],
                 joint_states: Callable[[RobotModel], dict],
                 settings: Callable[[], SolverSettings], stop_codes: dict):
        self._node, self._model, self._joint_states = node, model, joint_states
        self._settings, self._stop_codes = settings, stop_codes
        self._link = values['stream.link']
        self._velocity = values['stream.max_joint_velocity']
        self._resync = values['stream.resync_threshold']
        self._commands = node.create_publisher(JointState, values['stream.command_topic'], 10)
        self._trajectories = (node.create_publisher(JointTrajectory,
                                                    values['stream.trajectory_topic'], 10)
                              if values['stream.trajectory_topic'] else None)
        self._status = node.create_publisher(StreamStatus, '~/stream_status', 10)
        self._newest: Optional[tuple] = None      # (PoseStamped, arrival time [s])
        self._ready = threading.Condition()
        self._stopping = False
        self._dropped = 0
        self._last: Optional[tuple] = None        # (model, command (n,), arrival time)
        self._thread = threading.Thread(target=self._run, name='ik_stream', daemon=True)
        self._thread.start()
        node.create_subscription(PoseStamped, values['stream.target_topic'], self._on_target,
                                 QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT))

    def stop(self) -> None:
        """End the solving thread after the target it is solving, and wait for it."""
        with self._ready:
            self._stopping = True
            self._ready.notify()
        self._thread.join()

    def _on_target(self, msg: PoseStamped) -> None:
        with self._ready:
            if self._newest is not None:
                self._dropped += 1
            self._newest = (msg, time.perf_counter())
            self._ready.notify()
        # Let go of the GIL: the solving thread takes the target now instead of waiting
        # while this (the executor) thread spins on in Python (0.5 ms a target at p50, up
        # to 2.5 ms, before; 0.05 ms after: bench/stream_bench.py)
        time.sleep(0)

    def _run(self) -> None:
        while True:
            with self._ready:
                while self._newest is None and not self._stopping:
                    self._ready.wait()
                if self._stopping:
                    return
                (target, arrived), self._newest = self._newest, None
            try:
                self._follow(target, arrived)
            except Exception as e:      # a bad target must not end the stream
                if not self._stopping and self._node.context.ok():
                    self._node.get_logger().error(f'stream: {type(e).__name__}: {e}',
                                                  throttle_duration_sec=5.0)

    def _follow(self, target: PoseStamped, arrived: float) -> None:
        model = self._model()
        status = StreamStatus(dropped=self._dropped, held=True)
        status.header.frame_id = target.header.frame_id
        status.target_stamp = target.header.stamp
        if model is None:
            status.message = 'no robot model yet'
            return self._publish(None, None, status, arrived)
        seed, dt = self._seed(model, arrived)
        step = self._velocity * dt
        limits = JointLimits.from_model(model)
        approaching = ''        # the message when the command moves toward the target
        try:
            objectives = [conv.pose_objective(self._link, target)]
            # A target the descents from the last command miss inside the step's box is
            # approached or held: no restarts search the box (on Panda, iiwa and xArm7 they
            # met none of the targets the descents missed, ad hoc, and a stream whose
            # velocity limit binds answered a quarter fewer targets with them,
            # bench/stream_bench.py --robot panda --turn-seconds 1)
            settings = replace(self._settings(), max_restarts=0)
            result = solve_near(model, objectives, seed, step, settings, limits,
                                cancel=self._stopped, closest_if_missed=False)
            if not result.success and result.stop_reason not in (UNREACHABLE, CANCELLED):
                result, approaching = self._toward(model, objectives, seed, step, settings,
                                                   limits, result)
        except IKError as e:
            status.message = f'target refused: {e}'
            return self._publish(model, self._held(model), status, arrived)
        (position, rotation), = result.objective_errors
        status.position_error, status.rotation_error = float(position), float(rotation)
        status.stop_reason = self._stop_codes[result.stop_reason]
        status.success = result.success
        if result.success or approaching:
            self._last = (model, result.q, arrived)
            status.held = False
            status.message = approaching or 'met'
            return self._publish(model, result.q, status, arrived)
        status.message = (f'held the last command: the target is {position:.3g} m and '
                          f'{rotation:.3g} rad from the closest configuration found within '
                          f'{step:.3g} rad of it ({result.stop_reason})')
        return self._publish(model, self._held(model), status, arrived)

    def _toward(self, model: RobotModel, objectives: list, seed: np.ndarray, step: float,
                settings: SolverSettings, limits: JointLimits, missed) -> tuple:
        """
        Return (the command, a message) for a target the box around seed (n,) missed.

        A descent from seed without the box: when it meets the target, the command moves
        along the straight joint-space line toward that solution by at most ``step`` [rad
        or m] (message: approaching), or is the solution itself when it is that near
        (message: ''). When it misses, the box's miss stands (message: '').
        """
        goal = solve(model, objectives, seed, settings=settings, limits=limits, bias=seed,
                     cancel=self._stopped)
        if not goal.success:
            return missed, ''
        far = float(np.abs(goal.q - seed).max())
        if far <= step:
            return goal, ''
        command = seed + (goal.q - seed) * (step / far)
        return (result_at(model, objectives, command, missed.stop_reason, settings=settings,
                          limits=limits),
                f'approaching: the target is met {far:.3g} rad from the last command, more '
                f'than one step ({step:.3g} rad) allows')

    def _stopped(self) -> bool:
        return self._stopping

    def _seed(self, model: RobotModel, arrived: float) -> tuple[np.ndarray, float]:
        """Return the seed (the last command, or /joint_states) and the time step [s]."""
        current = self._joint_states(model)
        if self._last is not None and self._last[0] is model:
            _, command, previous = self._last
            measured = np.array([current.get(n, c) for n, c in zip(model.joint_names, command)])
            if np.abs(measured - command).max() <= self._resync:
                dt = min(max(arrived - previous, SHORTEST_STEP_TIME), LONGEST_STEP_TIME)
                return command, dt
        seed = conv.configuration(model, JointLimits.from_model(model).clip(
            np.zeros(model.num_dofs)), current)
        return seed, LONGEST_STEP_TIME

    def _held(self, model: RobotModel) -> Optional[np.ndarray]:
        return self._last[1] if self._last is not None and self._last[0] is model else None

    def _publish(self, model: Optional[RobotModel], command: Optional[np.ndarray],
                 status: StreamStatus, arrived: float) -> None:
        stamp = self._node.get_clock().now().to_msg()
        if command is not None and model is not None:
            names, positions = list(model.joint_names), command.tolist()
            msg = JointState(name=names, position=positions)
            msg.header.stamp = stamp
            self._commands.publish(msg)
            if self._trajectories is not None:
                point = JointTrajectoryPoint(
                    positions=positions,
                    time_from_start=Duration(nanosec=int(LONGEST_STEP_TIME * 1e9)))
                trajectory = JointTrajectory(joint_names=names, points=[point])
                self._trajectories.publish(trajectory)
        status.header.stamp = stamp
        status.latency = time.perf_counter() - arrived
        self._status.publish(status)
