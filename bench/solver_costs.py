"""
Where a solve's time goes: its pieces timed on their own, for one robot.

    .venv/bin/python bench/solver_costs.py [ur5|panda|z1]

Prints microseconds per call (best of 5 repeats): forward kinematics of the tip, building
an objective and binding it to the model, the kernel's chain arrays, picking starts from
the seed table (for 256 targets in turn, as a batch does: each reads other table
entries), the kernel's evaluation of 1 and 8 configurations, one kernel call of 8
iterations over 8 rows, and whole solves: local and global from the answer (the fixed cost
of a solve), global from a seed near the answer and from zeros, the answer's branch label
(arms with a closed form), failing a target that is provably out of reach, and a
step (``solve_near`` in a box of 0.006 rad) to a target it cannot meet, with 8 starts
searching the box for the closest configuration (a path's) and as a stream takes it (no
search: the command approaches or holds), out of reach and 0.2 rad away.
"""
import itertools
import os
import sys
import timeit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from ik_bench import Arm  # noqa: E402
from ik_service.core import (ClosedForm, IKObjective, JointLimits, kernel,  # noqa: E402
                             ObjectiveSet, solve, SolverSettings)
from ik_service.core.paths import solve_near  # noqa: E402
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
    idx = arm.dofs
    chain = problem.chain(idx, goal)
    table = SeedTable.of(model)
    table.prepare(problem.constrained_links, arm.dofs)
    settings = SolverSettings(timeout=0.005)
    x1 = np.ascontiguousarray(goal[idx][None])
    x8 = np.repeat(x1, 8, axis=0) + np.linspace(0, 0.1, 8)[:, None]
    res1, jac1 = np.zeros((1, 6)), np.zeros((1, 6, len(idx)))
    res8, jac8 = np.zeros((8, 6)), np.zeros((8, 6, len(idx)))

    def eight_iterations():
        x = x8 + 0.05
        res, jac = res8.copy(), jac8.copy()
        kernel.evaluate_batch(x, *chain, *problem.tables, res, jac, True)
        cost = np.einsum('ij,ij->i', res, res)
        kernel.descend(x, res, jac, cost, np.full((8, 2), [1e-3, 2.0]),
                       np.zeros(8, dtype=np.int64),
                       cost.copy(), np.zeros(8, dtype=bool), np.zeros(8, dtype=bool),
                       x[0].copy(), res[0].copy(), np.array([np.inf]),
                       np.array([0, 7, 0, 0, -1]), np.zeros((0, len(idx))), 8,
                       np.array(model.lower[idx]), np.array(model.upper[idx]),
                       np.zeros(len(idx), dtype=bool), np.zeros(len(idx)), False, 1e-12, 100,
                       8, 7, np.array([1e-3, 1e-9]),
                       problem.blocks, *chain, *problem.tables)

    far = IKObjective.fixed_pose(arm.tip, target[:3, :3], target[:3, 3] * 10)
    exact_only = SolverSettings(timeout=0.005, approximate=False)
    active = np.zeros(model.num_dofs, dtype=bool)
    active[idx] = True
    form = ClosedForm.of(model, arm.tip, active)
    limits = JointLimits.from_model(model)
    # a miss inside a step's box searched by 8 starts (a path), or not at all (a stream)
    searched, stream = SolverSettings(max_restarts=8), SolverSettings(max_restarts=0)
    moved = model.forward_kinematics(goal + np.where(active, 0.2, 0.0), arm.tip)
    away = IKObjective.fixed_pose(arm.tip, moved[:3, :3], moved[:3, 3])
    # targets in turn, from configurations spread over the limits
    spread = JointLimits.from_model(model).sample(np.random.default_rng(0), goal, 256)
    in_turn = itertools.cycle([ObjectiveSet(model, [IKObjective.fixed_pose(
        arm.tip, pose[:3, :3], pose[:3, 3])]) for pose in (
            model.forward_kinematics(q, arm.tip) for q in spread)])
    rows = [
        ('forward kinematics of the tip',
         lambda: model.forward_kinematics(goal, arm.tip)),
        ('objective (IKObjective.fixed_pose)',
         lambda: IKObjective.fixed_pose(arm.tip, target[:3, :3], target[:3, 3])),
        ('bind it (ObjectiveSet)', lambda: ObjectiveSet(model, [objective])),
        ('chain arrays', lambda: problem.chain(idx, goal)),
        ('seed table: 32 starts', lambda: table.starts(next(in_turn), 32, idx, goal)),
        ('kernel: evaluate 1 row', lambda: kernel.evaluate_batch(
            x1, *chain, *problem.tables, res1, jac1, True)),
        ('kernel: evaluate 8 rows', lambda: kernel.evaluate_batch(
            x8, *chain, *problem.tables, res8, jac8, True)),
        ('kernel: 8 iterations of 8 rows (with set-up)', eight_iterations),
        ('local solve from the answer', lambda: solve(model, problem, goal, mode='local',
                                                      settings=settings)),
        ('global solve from the answer', lambda: solve(model, problem, goal, mode='global',
                                                       settings=settings)),
        ('global solve from 0.05 rad away', lambda: solve(model, problem, goal + 0.05,
                                                          mode='global', settings=settings)),
        ('global solve from zeros', lambda: solve(model, problem, np.zeros(model.num_dofs),
                                                  mode='global', settings=settings)),
        *([('branch label (ClosedForm.branches)', lambda: form.branches(goal))]
          if form is not None else []),
        ('out of reach, approximate=false', lambda: solve(
            model, [far], goal, mode='global', settings=exact_only)),
        # a step (box 0.006 rad: 3 ms at 2 rad/s) to a target it cannot meet
        ('step out of reach, closest searched', lambda: solve_near(
            model, [far], goal, 0.006, searched, limits)),
        ('step out of reach, as a stream', lambda: solve_near(
            model, [far], goal, 0.006, stream, limits, closest_if_missed=False)),
        ('step 0.2 rad away, closest searched', lambda: solve_near(
            model, [away], goal, 0.006, searched, limits)),
        ('step 0.2 rad away, as a stream', lambda: solve_near(
            model, [away], goal, 0.006, stream, limits, closest_if_missed=False)),
    ]
    print(f'{arm.path}: {arm.tip}, {len(idx)} joints; microseconds per call, best of 5')
    for name, function in rows:
        print(f'  {name:48s} {microseconds(function, 500):9.1f}')


if __name__ == '__main__':
    main()
