"""
Where a global solve's time goes: the pieces of one iteration, timed on their own.

    .venv/bin/python bench/solver_costs.py [ur5|panda|z1]

Prints microseconds per call (best of 5 repeats) for building an objective, binding it,
picking starts from the seed table, the pose kernel's evaluation of 8 configurations and its parts,
the general objective code on the same rows, the damped solve, a whole global solve
that starts at the answer (the fixed cost of one solve), and failing a target that is
provably out of reach.
"""
import os
import sys
import timeit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from ik_bench import Arm  # noqa: E402
from ik_service.core import (IKObjective, JointLimits, ObjectiveSet, solve,  # noqa: E402
                             SolverSettings)
from ik_service.core.normal_equations import NormalEquations  # noqa: E402
from ik_service.core.pose_kernel import PoseKernel  # noqa: E402
from ik_service.core.seed_table import SeedTable  # noqa: E402
from ik_service.core.solver import _damped_solve  # noqa: E402
import numpy as np  # noqa: E402


def microseconds(function, number: int = 2000) -> float:
    return min(timeit.repeat(function, number=number, repeat=5)) / number * 1e6


def main() -> None:
    arm = Arm(sys.argv[1] if len(sys.argv) > 1 else 'ur5')
    model = arm.model
    goal = np.zeros(model.num_dofs)
    goal[arm.dofs] = np.linspace(0.3, 1.1, len(arm.dofs))
    goal = JointLimits.from_model(model).clip(goal)      # a configuration inside the limits
    target = model.forward_kinematics(goal, arm.tip)
    objective = IKObjective.fixed_pose(arm.tip, target[:3, :3], target[:3, 3])
    problem = ObjectiveSet(model, [objective])
    kernel = PoseKernel.for_problem(problem, False)
    q = JointLimits.from_model(model).sample(np.random.default_rng(0), goal, 8)
    v = problem.kinematics.frame_values(q)
    k = problem.kinematics.num_frames          # the kernel's columns: the arm's joints
    rows = NormalEquations(8, k, problem.num_rows)
    one = NormalEquations(1, k, problem.num_rows)
    settings = SolverSettings(tolerance=1e-5, timeout=0.005, max_restarts=10**6)
    fail_fast = SolverSettings(tolerance=1e-5, timeout=0.005, approximate=False)
    center, radius = model.reach_bound(model.link_id(arm.tip), np.zeros(3))
    far = IKObjective.fixed_pose(arm.tip, target[:3, :3], center + [1.2 * radius, 0.0, 0.0])
    SeedTable.of(model).prepare(problem.constrained_links)
    kernel.evaluate(v, rows)
    damped = rows.h + 1e-3 * np.eye(k)
    parts = [
        ('build the objective', lambda: IKObjective.fixed_pose(arm.tip, target[:3, :3],
                                                               target[:3, 3])),
        ('bind it to the model (ObjectiveSet)', lambda: ObjectiveSet(model, [objective])),
        ('pick 32 starts from the seed table', lambda: SeedTable.of(model).starts(
            problem, 32, np.arange(model.num_dofs))),
        ('pose kernel: residual, Jacobian, J^T J, 8 rows', lambda: kernel.evaluate(v, rows)),
        ('pose kernel: the reported residual only, 8 rows', lambda: kernel.residual(v)),
        ('pose kernel, 1 row', lambda: kernel.evaluate(v[:, :1], one)),
        ('general objective code, 8 rows', lambda: problem.evaluate(q)),
        ('damped solve, 8 rows', lambda: _damped_solve(damped, rows.g)),
        ('global solve starting at the answer', lambda: solve(model, [objective], goal,
                                                              mode='global', settings=settings)),
        ('  the reported residual at one configuration', lambda: kernel.residual(v[:, :1])),
        ('failing an out-of-reach target (approximate=false)',
         lambda: solve(model, [far], goal, mode='global', settings=fail_fast)),
    ]
    print(f'{arm.tip} of {model.name}, {len(arm.dofs)} joints')
    for label, function in parts:
        print(f'{microseconds(function):8.1f} us  {label}')


if __name__ == '__main__':
    main()
