"""
Objective kinds beyond one pose, against Klampt in one run.

    .venv/bin/python bench/objectives_bench.py [--targets 200] [--budget 0.005]

Local mode, one descent from a random seed (Klampt: one ``solve()`` from the same seed,
no restarts), solve rate for the axial kinds: an axis alone, hinge (point + axis) and
surface (point on a plane + axis), on Panda, UR5 and xArm7. Then global mode with random
restarts within the budget for several objectives at once: Baxter's two hands at 6-D
poses (14 joints), the same with both elbows at points (4 objectives), and three points
on Panda's hand. Targets come from random configurations within the limits; an answer
counts when every objective is met by our own evaluation at it (1e-4 m, 1e-3 rad) and
every joint is inside its limits.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault('OPENBLAS_NUM_THREADS', '1')
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from ik_bench import Arm, Klampt as KlamptArm, LIMIT_SLACK  # noqa: E402
from ik_service.core import IKObjective, JointLimits, ObjectiveSet, solve  # noqa: E402
from ik_service.core import SolverSettings  # noqa: E402
import numpy as np  # noqa: E402

Z = np.array([0.0, 0.0, 1.0])


def _met(model, objectives, q, names) -> bool:
    """Tell whether q (n,) meets every objective (1e-4 m, 1e-3 rad) within the limits."""
    if q is None or not np.all(np.isfinite(q)):
        return False
    ids = [model.joint_id(n) for n in names]
    lower, upper = model.lower[ids] - LIMIT_SLACK, model.upper[ids] + LIMIT_SLACK
    if np.any((q[ids] < lower) | (q[ids] > upper)):
        return False
    errors = ObjectiveSet(model, objectives).objective_errors(
        ObjectiveSet(model, objectives).evaluate(q[None], jacobian=False)[0][0])
    return all(p < 1e-4 and r < 1e-3 for p, r in errors)


class KlamptProblem:
    """Klampt's IKSolver on the same robot, with objectives built from ours."""

    def __init__(self, arm: Arm, names: list):
        self.helper = KlamptArm(arm, 0.005)      # owns Klampt's world: keep it alive
        self.ik, self.robot = self.helper.ik, self.helper.robot
        by_name = {self.robot.link(i).getName(): i for i in range(self.robot.numLinks())}
        child = {j.name: j.child for j in arm.model._frame_joint}
        self.links = [by_name[child[n]] for n in names]
        lo, hi = self.robot.getJointLimits()
        for n, link in zip(names, self.links):
            k = arm.model.joint_id(n)
            lo[link], hi[link] = max(arm.model.lower[k], -1e9), min(arm.model.upper[k], 1e9)
        self.robot.setJointLimits(lo, hi)

    def goal(self, o: IKObjective):
        from klampt import IKObjective as Goal
        g = Goal()
        g.robot = self.robot      # what klampt.model.ik.solver expects of an objective
        g.setLinks(self.robot.link(o.link).getIndex())
        if o.position == 'fixed' and len(o.local_points) > 1:    # Klampt's helper for points
            g = self.ik.objective(self.robot.link(o.link), local=o.local_points.tolist(),
                                  world=o.target_points.tolist())
        elif o.position == 'fixed':
            g.setFixedPosConstraint(o.local_points[0].tolist(), o.target_points[0].tolist())
        elif o.position == 'planar':      # Klampt's convention, measured: n . x = offset
            g.setPlanarPosConstraint(o.local_points[0].tolist(), o.direction.tolist(),
                                     float(o.direction @ o.target_points[0]))
        else:
            g.setFreePosConstraint()
        if o.rotation == 'axial':
            g.setAxialRotConstraint(o.local_axis.tolist(), o.target_axis.tolist())
        elif o.rotation == 'fixed':
            g.setFixedRotConstraint(list(o.target_rotation.T.ravel()))
        else:
            g.setFreeRotConstraint()
        return g

    def solve(self, objectives, seed_q, names, model, budget: float, restarts: bool):
        solver = self.ik.solver([self.goal(o) for o in objectives], iters=100, tol=1e-5)
        solver.setActiveDofs(self.links)
        q = self.robot.getConfig()
        for n, link in zip(names, self.links):
            q[link] = seed_q[model.joint_id(n)]
        self.robot.setConfig(q)
        deadline = time.perf_counter() + budget
        while True:
            if solver.solve():
                break
            if not restarts or time.perf_counter() >= deadline:
                return None
            solver.sampleInitial()
        config = self.robot.getConfig()
        out = seed_q.copy()
        for n, link in zip(names, self.links):
            out[model.joint_id(n)] = config[link]
        return out


def _random_q(model, names, rng):
    q = np.zeros(model.num_dofs)
    ids = [model.joint_id(n) for n in names]
    box = JointLimits(model.lower[ids], model.upper[ids], np.ones(len(ids), dtype=bool))
    q[ids] = box.sample(rng, np.zeros(len(ids)), 1)[0]
    return q


def axial_kinds(key: str, count: int, rng) -> None:
    arm = Arm(key)
    model, tip, names = arm.model, arm.tip, arm.names
    klampt = KlamptProblem(arm, names)
    kinds = ('axis', 'hinge', 'surface')
    solved = {(kind, who): 0 for kind in kinds for who in ('ours', 'klampt')}
    for _ in range(count):
        goal, seed = _random_q(model, names, rng), _random_q(model, names, rng)
        pose = model.forward_kinematics(goal, tip)
        axis, point = pose[:3, :3] @ Z, pose[:3, 3]
        normal = np.cross(axis, [0.3, 0.5, 0.8])
        normal /= np.linalg.norm(normal)
        kinds = {
            'axis': IKObjective(tip, position='none', rotation='axial', local_axis=Z,
                                target_axis=axis),
            'hinge': IKObjective.hinge(tip, [0, 0, 0], point, Z, axis),
            'surface': IKObjective.surface(tip, [0, 0, 0], point, normal, Z, axis),
        }
        for kind, objective in kinds.items():
            ours = solve(model, [objective], seed, mode='local', active_joints=names,
                         settings=SolverSettings(tolerance=1e-5, max_iterations=100))
            solved[kind, 'ours'] += _met(model, [objective], ours.q, names)
            theirs = klampt.solve([objective], seed, names, model, 0.0, restarts=False)
            solved[kind, 'klampt'] += _met(model, [objective], theirs, names)
    for kind in ('axis', 'hinge', 'surface'):
        print(f'{key:7s} {kind:8s} local, one descent     ik_service '
              f'{solved[kind, "ours"]:4d}/{count}   Klampt {solved[kind, "klampt"]:4d}/{count}')


def several_objectives(name: str, arm: Arm, names: list, make, count: int, budget: float,
                       rng) -> None:
    model = arm.model
    klampt = KlamptProblem(arm, names)
    times = {'ours': [], 'klampt': []}
    solved = {'ours': 0, 'klampt': 0}
    settings = SolverSettings(tolerance=1e-5, timeout=budget, max_restarts=1_000_000)
    for k in range(count):
        goal, seed = _random_q(model, names, rng), _random_q(model, names, rng)
        objectives = make(model, goal)
        for who in (('ours', 'klampt') if k % 2 else ('klampt', 'ours')):
            started = time.perf_counter()
            if who == 'ours':
                result = solve(model, objectives, seed, mode='global', active_joints=names,
                               settings=settings, random_seed=k)
                q = result.q if result.success else None
            else:
                q = klampt.solve(objectives, seed, names, model, budget, restarts=True)
            times[who].append(time.perf_counter() - started)
            solved[who] += _met(model, objectives, q, names)
    for who in ('ours', 'klampt'):
        t = np.array(times[who]) * 1e3
        print(f'{name:30s} {"ik_service" if who == "ours" else "Klampt":10s} solved '
              f'{solved[who]:4d}/{count}  median {np.median(t):6.3f} ms  p95 '
              f'{np.percentile(t, 95):6.3f} ms')


def _two_hands(model, q):
    out = []
    for hand in ('left_gripper', 'right_gripper'):
        t = model.forward_kinematics(q, hand)
        out.append(IKObjective.fixed_pose(hand, t[:3, :3], t[:3, 3]))
    return out


def _hands_and_elbows(model, q):
    out = _two_hands(model, q)
    for elbow in ('left_lower_elbow', 'right_lower_elbow'):
        t = model.forward_kinematics(q, elbow)
        out.append(IKObjective.point(elbow, [0, 0, 0], t[:3, 3]))
    return out


def _three_points(model, q):
    t = model.forward_kinematics(q, 'panda_hand')
    local = np.array([[0, 0, 0], [0.1, 0, 0], [0, 0.1, 0]])
    return [IKObjective.from_points('panda_hand', local, local @ t[:3, :3].T + t[:3, 3])]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('--targets', type=int, default=200)
    parser.add_argument('--budget', type=float, default=0.005)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    print('Axial kinds from random seeds, local mode (one descent; Klampt: one solve())')
    for key in ('panda', 'ur5', 'xarm7'):
        axial_kinds(key, args.targets, rng)
    print(f'\nSeveral objectives, global mode, {args.budget * 1e3:g} ms budget with restarts')
    baxter = Arm('baxter')
    both_arms = [n for n in baxter.model.joint_names if n.startswith(('left_s', 'left_e',
                 'left_w', 'right_s', 'right_e', 'right_w'))]
    several_objectives('baxter: two hands (2 x 6-D)', baxter, both_arms, _two_hands,
                       args.targets, args.budget, rng)
    several_objectives('baxter: hands + elbows (4 objectives)', baxter, both_arms,
                       _hands_and_elbows, args.targets, args.budget, rng)
    panda = Arm('panda')
    several_objectives('panda: three points on the hand', panda, panda.names, _three_points,
                       args.targets, args.budget, rng)


if __name__ == '__main__':
    main()
