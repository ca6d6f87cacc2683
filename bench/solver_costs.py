"""
Where a global solve's time goes: the pieces of one iteration, timed on their own.

    .venv/bin/python bench/solver_costs.py [ur5|panda|z1]

Prints microseconds per call (best of 5 repeats) for building an objective, ranking the
seed table, forward kinematics, Jacobian and residual of 8 configurations, the damped
solve, and a whole global solve that starts at the answer (fixed cost of one solve).
"""
import os
import sys
import timeit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from ik_bench import Arm  # noqa: E402
from ik_service.core import (IKObjective, JointLimits, ObjectiveSet, solve,  # noqa: E402
                             SolverSettings)
from ik_service.core.seed_table import SeedTable  # noqa: E402
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
    kin = problem.kinematics
    q = JointLimits.from_model(model).sample(np.random.default_rng(0), goal, 8)
    frames = kin.transforms(q)
    axes = kin.axes(frames)
    tip = model.link_id(arm.tip)
    points = kin.link_pose(frames, tip)[:, None, :3, 3]
    residual, jac = problem.evaluate(q)
    jt = jac.transpose(0, 2, 1)
    damped = jt @ jac + 1e-3 * np.eye(jac.shape[2])
    settings = SolverSettings(tolerance=1e-5, timeout=0.005, max_restarts=10**6)
    SeedTable.of(model).prepare([tip])
    rows = [
        ('build the objective', lambda: IKObjective.fixed_pose(arm.tip, target[:3, :3],
                                                               target[:3, 3])),
        ('bind it to the model (ObjectiveSet)', lambda: ObjectiveSet(model, [objective])),
        ('rank the seed table', lambda: SeedTable.of(model).ranked(problem, 32)),
        ('forward kinematics, 8 rows', lambda: kin.transforms(q)),
        ('joint axes and origins, 8 rows', lambda: kin.axes(frames)),
        ('point Jacobian, 8 rows', lambda: kin.point_jacobian(axes, tip, points)),
        ('residual + Jacobian (all of it), 8 rows', lambda: problem.evaluate(q)),
        ('residual only, 8 rows', lambda: problem.evaluate(q, jacobian=False)),
        ('damped solve, 8 rows', lambda: np.linalg.solve(damped, -(jt @ residual[:, :, None]))),
        ('global solve starting at the answer', lambda: solve(model, [objective], goal,
                                                              mode='global', settings=settings)),
    ]
    print(f'{arm.tip} of {model.name}, {len(arm.dofs)} joints')
    for label, function in rows:
        print(f'{microseconds(function):8.1f} us  {label}')


if __name__ == '__main__':
    main()
