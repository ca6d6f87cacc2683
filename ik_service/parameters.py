"""
The node's parameters: one table that declares them, documents them and validates them.

Each entry: name, default, description, and for numbers the inclusive range that rclpy
enforces on set (also for values from a --params-file). ``read_only`` ones are fixed at
start-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from ik_service.core import GLOBAL, LOCAL, NEARBY, SolverSettings
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
    ParameterSpec('batch_size', 8, 'Configurations advanced together in global mode.', 1, 1024),
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
)

SPECS = {p.name: p for p in PARAMETERS}


def validate(name: str, value: Any) -> Optional[str]:
    """None if ``value`` is acceptable for ``name``, else the reason it is not."""
    spec = SPECS.get(name)
    if spec is None:
        return None
    if spec.choices and value not in spec.choices:
        return f'{name} must be one of {", ".join(spec.choices)}, got {value!r}'
    return None


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
