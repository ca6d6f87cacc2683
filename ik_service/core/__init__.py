"""
The kinematics and IK core of ik_service: plain Python, numpy and scipy, no ROS.

from ik_service.core import load_urdf_file, IKObjective, solve
model = load_urdf_file('ur5e.urdf')
goal = IKObjective.fixed_pose('tool0', rotation, translation)
result = solve(model, [goal], seed, mode='global')
"""

from . import kernel
from .batches import solve_batch
from .branches import labelled_solutions, LabelledSolutions, solve_on_branch
from .closed_form import all_solutions, ClosedForm
from .errors import (
    IKError,
    InvalidConfigurationError,
    InvalidObjectiveError,
    InvalidSettingsError,
    NoSolutionError,
    UnknownFrameError,
    UnknownJointError,
    UnknownLinkError,
    URDFError,
)
from .limits import JointLimits
from .model import JointSpec, RobotModel
from .objectives import IKObjective, ObjectiveSet, residual_and_jacobian
from .paths import PathResult, solve_near, solve_path
from .solver import (
    GLOBAL,
    IKResult,
    LOCAL,
    NEARBY,
    problem_is_unreachable,
    solve,
    solve_global,
    solve_nearby,
    SolverSettings,
)
from .urdf_loader import DescriptionLimits, expand_xacro, load_urdf_file, load_urdf_string

__all__ = [
    'IKError',
    'InvalidConfigurationError',
    'InvalidObjectiveError',
    'InvalidSettingsError',
    'NoSolutionError',
    'UnknownFrameError',
    'UnknownJointError',
    'UnknownLinkError',
    'URDFError',
    'kernel',
    'all_solutions',
    'LabelledSolutions',
    'labelled_solutions',
    'solve_on_branch',
    'ClosedForm',
    'JointLimits',
    'JointSpec',
    'RobotModel',
    'IKObjective',
    'ObjectiveSet',
    'residual_and_jacobian',
    'PathResult',
    'solve_batch',
    'solve_near',
    'solve_path',
    'GLOBAL',
    'LOCAL',
    'NEARBY',
    'IKResult',
    'SolverSettings',
    'problem_is_unreachable',
    'solve',
    'solve_global',
    'solve_nearby',
    'DescriptionLimits',
    'expand_xacro',
    'load_urdf_file',
    'load_urdf_string',
]
