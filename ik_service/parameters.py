"""
The node's parameters: one table that declares them, documents them and validates them.

Each entry: name, default, description, and for numbers the inclusive range that rclpy
enforces on set (also for values from a --params-file). ``read_only`` ones are fixed at
start-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from ik_service.core import DescriptionLimits, GLOBAL, LOCAL, NEARBY, SolverSettings
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor


@dataclass(frozen=True)
class ParameterSpec:
    """One declared parameter."""

    name: str
    default: Any
    description: str
    low: Optional[float] = None
    high: Optional[float] = None
    read_only: bool = False
    choices: tuple = ()

    def descriptor(self) -> ParameterDescriptor:
        """Build the rcl_interfaces descriptor with description, range and constraints."""
        d = ParameterDescriptor(description=self.description, read_only=self.read_only)
        if self.choices:
            d.additional_constraints = 'one of: ' + ', '.join(self.choices)
        if self.low is not None and isinstance(self.default, float):
            d.floating_point_range = [
                FloatingPointRange(from_value=float(self.low), to_value=float(self.high), step=0.0)
            ]
        elif (
            self.low is not None
            and isinstance(self.default, int)
            and not isinstance(self.default, bool)
        ):
            d.integer_range = [
                IntegerRange(from_value=int(self.low), to_value=int(self.high), step=1)
            ]
        return d


PARAMETERS = (
    ParameterSpec(
        'robot_description',
        '',
        'URDF XML of the robot. Takes precedence over robot_description_file; '
        'changing it at run time replaces the model.',
    ),
    ParameterSpec(
        'robot_description_file',
        '',
        'Path of a .urdf or .xacro file, used when robot_description is empty. '
        'Changing it at run time replaces the model.',
    ),
    ParameterSpec(
        'robot_description_topic',
        'robot_description',
        'Topic (std_msgs/String, transient local) to take the URDF from when neither '
        'parameter is set; empty disables it. Each new message replaces the model.',
        read_only=True,
    ),
    ParameterSpec(
        'joint_states_topic',
        'joint_states',
        'sensor_msgs/JointState topic merged by joint name into the default seed.',
        read_only=True,
    ),
    ParameterSpec(
        'joint_state_timeout',
        0.0,
        'Joint positions older than this [s] are not used as seed; 0 uses any age.',
        0.0,
        3600.0,
    ),
    ParameterSpec(
        'mode',
        GLOBAL,
        'Default solve mode: local (descend from the seed only), global (seed, '
        'then random restarts), nearby (no joint moves more than max_deviation).',
        choices=(LOCAL, GLOBAL, NEARBY),
    ),
    ParameterSpec('tolerance', 1e-5, 'Largest accepted constraint error [m or rad].', 1e-12, 1.0),
    ParameterSpec(
        'max_iterations', 100, 'Iterations per descent (per seed or restart).', 1, 1_000_000
    ),
    ParameterSpec('timeout', 0.05, 'Wall-clock budget of one solve [s].', 1e-6, 3600.0),
    ParameterSpec('max_restarts', 100, 'Random restarts in global mode.', 0, 10_000_000),
    ParameterSpec('batch_size', 4, 'Configurations advanced together in global mode.', 1, 1024),
    ParameterSpec(
        'max_deviation',
        0.2,
        'Nearby mode: largest motion of any joint from the seed [rad or m].',
        1e-9,
        1000.0,
    ),
    ParameterSpec(
        'joint_limit_margin',
        0.0,
        'Safety margin [rad or m] taken off both ends of every bounded joint.',
        0.0,
        1.0,
    ),
    ParameterSpec(
        'initial_damping',
        1e-3,
        'Levenberg-Marquardt damping at the start of a descent.',
        1e-12,
        1e6,
    ),
    ParameterSpec(
        'approximate',
        True,
        'On failure return the closest configuration found; if false, provably '
        'unreachable targets fail at once.',
    ),
    ParameterSpec(
        'allow_xacro_at_run_time',
        False,
        'Whether robot_description_file may name a .xacro file after start-up. xacro runs '
        'Python ($(eval ...)) from the file, so by default only files given at start-up '
        '(launch, --ros-args) are expanded.',
        read_only=True,
    ),
    ParameterSpec(
        'solver_threads',
        4,
        'Requests solved at the same time; more wait in a queue (limits.max_pending_requests).',
        1,
        64,
        read_only=True,
    ),
    ParameterSpec(
        'batch_workers',
        1,
        'Processes solving one solve_ik_batch request: 1 solves it in the node; more fork '
        'batch_workers - 1 workers that solve beside the node (one per core for dataset '
        'work).',
        1,
        64,
    ),
    # Teleoperation: follow a stream of target poses (ik_service.stream).
    ParameterSpec('stream.target_topic', '',
                  'geometry_msgs/PoseStamped topic of targets for stream.link; each gets a '
                  'joint command. Empty: no stream.', read_only=True),
    ParameterSpec('stream.link', '', 'Link that follows the stream of targets.',
                  read_only=True),
    ParameterSpec('stream.command_topic', '~/joint_command',
                  'sensor_msgs/JointState topic of the commands.', read_only=True),
    ParameterSpec('stream.trajectory_topic', '',
                  'Also publish each command as a one-point trajectory_msgs/JointTrajectory '
                  'here (for joint_trajectory_controller); empty: not.', read_only=True),
    ParameterSpec('stream.max_joint_velocity', 2.0,
                  'Largest joint speed between commands [rad/s or m/s].', 1e-3, 1000.0,
                  read_only=True),
    ParameterSpec('stream.resync_threshold', 0.2,
                  'Seed from /joint_states instead of the last command when they differ by '
                  'more than this [rad or m].', 1e-6, 1000.0, read_only=True),
    # What one peer can ask of the node: requests and robot descriptions beyond these are
    # refused with a result code or reason that names the limit.
    ParameterSpec('limits.max_timeout', 10.0, 'Largest time budget a request may ask for [s].',
                  1e-3, 3600.0),
    ParameterSpec('limits.max_restarts', 100_000, 'Largest max_restarts a request may ask for.',
                  0, 10_000_000),
    ParameterSpec('limits.max_objectives', 64,
                  'Largest number of pose_targets plus objectives in one request.', 1, 100_000),
    ParameterSpec('limits.max_points', 256,
                  'Largest number of points over all objectives of one request.', 1, 1_000_000),
    ParameterSpec('limits.max_names', 1024,
                  'Largest number of entries in any name list of a request (seed, bias, '
                  'active_joints, joint_limits, configuration).', 1, 1_000_000),
    ParameterSpec('limits.max_waypoints', 10_000, 'Largest number of waypoints in one path.',
                  1, 1_000_000),
    ParameterSpec('limits.max_batch_problems', 10_000,
                  'Largest number of problems in one SolveIKBatch request.', 1, 1_000_000),
    ParameterSpec('limits.max_pending_requests', 256,
                  'Requests waiting for a solver thread; beyond, SERVICE_BUSY at once.',
                  1, 1_000_000),
    ParameterSpec('limits.max_description_bytes', 4 * 1024 * 1024,
                  'Largest robot description (URDF text or xacro output) [bytes].',
                  1024, 1 << 30),
    ParameterSpec('limits.max_links', 1000, 'Largest number of links in a robot description.',
                  1, 100_000),
    ParameterSpec('limits.max_joints', 1000,
                  'Largest number of joints (fixed ones too) in a robot description.',
                  1, 100_000),
    ParameterSpec('limits.xacro_timeout', 10.0, 'Wall clock allowed for one xacro expansion [s].',
                  0.1, 600.0),
)

# Parameters every rclpy node has, or that rclpy interprets itself.
_ROS_PARAMETERS = ('use_sim_time', 'start_type_description_service')

SPECS = {p.name: p for p in PARAMETERS}


def validate(name: str, value: Any) -> Optional[str]:
    """None if ``value`` is acceptable for ``name``, else the reason it is not."""
    spec = SPECS.get(name)
    if spec is None:
        return None
    if spec.choices and value not in spec.choices:
        return f'{name} must be one of {", ".join(spec.choices)}, got {value!r}'
    return None


def validate_together(values: dict) -> Optional[str]:
    """None if the values agree with each other, else the reason they do not."""
    if values['timeout'] > values['limits.max_timeout']:
        return (f'timeout {values["timeout"]:g} s is above limits.max_timeout '
                f'{values["limits.max_timeout"]:g} s')
    if values['stream.target_topic'] and not values['stream.link']:
        return 'stream.target_topic is set but stream.link is empty: name the link to move'
    if values['max_restarts'] > values['limits.max_restarts']:
        return (f'max_restarts {values["max_restarts"]} is above limits.max_restarts '
                f'{values["limits.max_restarts"]}')
    return None


def unknown_parameters(names) -> list[str]:
    """
    Return the given parameter names (--params-file, -p) that the node does not declare.

    Each comes with the closest declared name as a hint: a typo in a parameters file is
    an error at start-up, not a silently ignored setting.
    """
    import difflib

    out = []
    for name in sorted(names):
        if name in SPECS or name in _ROS_PARAMETERS or name.startswith('qos_overrides.'):
            continue
        close = difflib.get_close_matches(name, list(SPECS), n=1, cutoff=0.5)
        out.append(f'{name!r}' + (f' (did you mean {close[0]!r}?)' if close else ''))
    return out


def description_limits(values: dict):
    """Return the core's DescriptionLimits from the limits.* parameters."""
    return DescriptionLimits(
        max_bytes=values['limits.max_description_bytes'],
        max_links=values['limits.max_links'],
        max_joints=values['limits.max_joints'],
        xacro_timeout=values['limits.xacro_timeout'],
    )


def solver_settings(values: dict) -> SolverSettings:
    """Build SolverSettings from current parameter values."""
    return SolverSettings(
        tolerance=values['tolerance'],
        max_iterations=values['max_iterations'],
        timeout=values['timeout'],
        max_restarts=values['max_restarts'],
        batch_size=values['batch_size'],
        initial_damping=values['initial_damping'],
        approximate=values['approximate'],
    )
