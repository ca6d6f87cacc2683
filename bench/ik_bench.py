"""
Speed and solve rate of ik_service against TRAC-IK, Klampt and ikpy, in one run.

    scripts/bench.sh                       # set-up (peers included) and the default run
    .venv/bin/python bench/ik_bench.py --targets 1000 --robots ur5 panda z1

Targets are 6-D poses of random configurations within the URDF limits, each solved from
a random seed; every solver gets the same targets and seeds. Solvers take turns in
blocks of 25 targets, so drift in the machine's speed hits them alike. A solve counts as solved
when, by forward kinematics, the position error is < 1e-4 m, the orientation error
< 1e-3 rad and every joint is inside its URDF limits (1e-6 slack for limits stored as
float32). Each solver gets the same wall-clock budget per target (--budget, default 5 ms)
and restarts from random configurations within it. A second table times targets whose
position is out of reach: how long until failure is reported.

``--frame base`` gives ik_service its targets in the arm's base link (``ref_link``), the
frame TRAC-IK's chain starts in and the one users hold their poses in; ``--frame root``
(the default) in the URDF's root link.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from typing import Optional

# Single-threaded BLAS for every solver in the process: OpenBLAS worker threads spinning
# after numpy's small matrix calls steal the cores TRAC-IK's two threads run on.
os.environ.setdefault('OPENBLAS_NUM_THREADS', '1')

from ik_service.core import (IKObjective, JointLimits, load_urdf_file, solve,  # noqa: E402
                             SolverSettings)
from ik_service.core.transforms import matrix_to_quaternion, rotation_angle  # noqa: E402
import numpy as np  # noqa: E402

# (URDF under example-robot-data, or under pybullet's data for a path starting
# 'pybullet_data/', the arm's base link, its tip). The arm is the joints between them;
# other joints stay at 0 (a torso held still: PR2, TALOS, TIAGo, G1).
ROBOTS = {
    'ur5': ('ur_description/urdf/ur5_robot.urdf', 'base_link', 'tool0'),
    'panda': ('panda_description/urdf/panda.urdf', 'panda_link0', 'panda_hand'),
    'z1': ('z1_description/urdf/z1.urdf', 'link00', 'link06'),
    'ur3': ('ur_description/urdf/ur3_robot.urdf', 'base_link', 'tool0'),
    'ur10': ('ur_description/urdf/ur10_robot.urdf', 'base_link', 'tool0'),
    'kinova': ('kinova_description/robots/kinova.urdf', 'j2s6s200_link_base',
               'j2s6s200_end_effector'),
    'xarm7': ('xarm_description/urdf/xarm7.urdf', 'link_base', 'link_eef'),
    'baxter': ('baxter_description/urdf/baxter.urdf', 'torso', 'left_gripper'),
    'pr2': ('pr2_description/urdf/pr2.urdf', 'torso_lift_link', 'r_wrist_roll_link'),
    'talos': ('talos_data/robots/talos_reduced.urdf', 'torso_2_link', 'arm_left_7_link'),
    'tiago': ('tiago_description/robots/tiago.urdf', 'torso_lift_link', 'arm_7_link'),
    'g1': ('g1_description/urdf/g1_29dof_rev_1_0.urdf', 'torso_link', 'left_wrist_yaw_link'),
    'iiwa': ('pybullet_data/kuka_iiwa/model.urdf', 'lbr_iiwa_link_0', 'lbr_iiwa_link_7'),
    # SO-101's shoulder lift, elbow and wrist flex: a planar 3R arm over its turning shoulder
    'so101_planar': ('so_arm_description/urdf/so101.urdf', 'shoulder_link', 'wrist_link'),
}
DEFAULT_ROBOTS = ['ur5', 'panda', 'z1']
ROBOTS_DIR = os.path.join(sys.prefix, 'lib', 'python3.11', 'site-packages', 'cmeel.prefix',
                          'share',
                          'example-robot-data', 'robots')
POSITION_TOL, ROTATION_TOL, LIMIT_SLACK = 1e-4, 1e-3, 1e-6
BLOCK = 25     # cases a solver runs back to back before the next one takes its turn


def robot_file(relative: str) -> str:
    """Return the path of a URDF named as in ROBOTS."""
    if relative.startswith('pybullet_data/'):
        import pybullet_data        # bench/requirements.txt: pybullet, for its robots
        return os.path.join(pybullet_data.getDataPath(), relative[len('pybullet_data/'):])
    return os.path.join(ROBOTS_DIR, relative)


class Arm:
    """One robot of the benchmark: model, chain joints and their URDF limits."""

    def __init__(self, key: str):
        relative, self.base, self.tip = ROBOTS[key]
        self.path = robot_file(relative)
        self.urdf = open(self.path).read()
        self.model = load_urdf_file(self.path)
        moving_tip = self.model.dofs_moving_links([self.model.link_id(self.tip)])
        moving_base = self.model.dofs_moving_links([self.model.link_id(self.base)])
        self.dofs = np.flatnonzero(moving_tip & ~moving_base)
        self.names = [self.model.joint_names[i] for i in self.dofs]
        self.lower, self.upper = self.model.lower[self.dofs], self.model.upper[self.dofs]
        # the chain's URDF limits, every dof sampled as an angle
        self.box = JointLimits(self.lower, self.upper, np.ones(len(self.dofs), dtype=bool))
        # root-frame poses into the base link's frame (the joints below it stay at 0)
        self.root_to_base = np.linalg.inv(
            self.model.forward_kinematics(np.zeros(self.model.num_dofs), self.base))

    def full(self, q_chain: np.ndarray) -> np.ndarray:
        q = np.zeros(self.model.num_dofs)
        q[self.dofs] = q_chain
        return q

    def middle_start(self, rng) -> np.ndarray:
        """
        Return a chain configuration (k,) drawn in the middle half of each joint's range.

        A joint's range is taken within -pi..pi (an unbounded joint's is that).
        """
        lower, upper = np.maximum(self.lower, -np.pi), np.minimum(self.upper, np.pi)
        middle = JointLimits(0.75 * lower + 0.25 * upper, 0.25 * lower + 0.75 * upper,
                             np.ones(len(self.dofs), dtype=bool))
        return middle.sample(rng, np.zeros(len(self.dofs)), 1)[0]

    def sample(self, rng, count: int) -> np.ndarray:
        """Return ``count`` chain configurations (count, k), uniform in the URDF limits."""
        return self.box.sample(rng, np.zeros(len(self.dofs)), count)

    def pose(self, q_chain: np.ndarray) -> np.ndarray:
        return self.model.forward_kinematics(self.full(q_chain), self.tip)

    def solved(self, q_chain, target: np.ndarray) -> bool:
        if q_chain is None or len(q_chain) != len(self.dofs) or not np.all(np.isfinite(q_chain)):
            return False
        if np.any((q_chain < self.lower - LIMIT_SLACK) | (q_chain > self.upper + LIMIT_SLACK)):
            return False
        reached = self.pose(np.asarray(q_chain))
        return bool(np.linalg.norm(reached[:3, 3] - target[:3, 3]) < POSITION_TOL
                    and rotation_angle(reached[:3, :3].T @ target[:3, :3]) < ROTATION_TOL)


# ---------------------------------------------------------------- solvers
class IkService:
    """This project's solver, global mode: the seed, then random restarts within the budget."""

    frame = 'root'      # or 'base': targets in the arm's base link

    def __init__(self, arm: Arm, budget: float, approximate: bool = True):
        self.arm = arm
        self.settings = SolverSettings(tolerance=1e-5, timeout=budget, max_restarts=1_000_000,
                                       approximate=approximate)

    def __call__(self, target, seed, k):
        if self.frame == 'root':
            objective = IKObjective.fixed_pose(self.arm.tip, target[:3, :3], target[:3, 3])
        else:
            t = self.arm.root_to_base @ target
            objective = IKObjective.fixed_pose(self.arm.tip, t[:3, :3], t[:3, 3],
                                               ref_link=self.arm.base)
        result = solve(self.arm.model, [objective], self.arm.full(seed), mode='global',
                       settings=self.settings, random_seed=k, active_joints=self.arm.names)
        return result.q[self.arm.dofs] if result.success else None


class TracIK:
    """TRAC-IK (pytracik), Speed mode, epsilon 1e-5, URDF limits passed explicitly."""

    def __init__(self, arm: Arm, budget: float):
        import pytracik
        self.pytracik = pytracik
        self.arm = arm
        self.solver = pytracik.TRAC_IK(arm.base, arm.tip, arm.urdf, budget, 1e-5,
                                       pytracik.SolveType.Speed)
        # continuous joints: a finite range for TRAC-IK's sampling, as KDL does
        pytracik.set_joint_limits(self.solver, list(np.maximum(arm.lower, -2 * np.pi)),
                                  list(np.minimum(arm.upper, 2 * np.pi)))

    def __call__(self, target, seed, k):
        target = self.arm.root_to_base @ target       # the chain starts at the base link
        x, y, z, w = matrix_to_quaternion(target[:3, :3])
        px, py, pz = target[:3, 3]
        out = self.pytracik.ik(self.solver, seed, px, py, pz, x, y, z, w)
        return np.asarray(out[1:]) if len(out) > 1 and out[0] >= 0 else None


class Klampt:
    """Klampt's IKSolver on the arm's joints, restarted from random configurations."""

    def __init__(self, arm: Arm, budget: float):
        import klampt
        from klampt.model import ik
        self.ik, self.budget, self.arm = ik, budget, arm
        # geometry is irrelevant here and its meshes are not on disk
        text = re.sub(r'<(visual|collision)>.*?</\1>', '', arm.urdf, flags=re.S)
        self.tmp = tempfile.NamedTemporaryFile('w', suffix='.urdf', delete=False)
        self.tmp.write(text)
        self.tmp.close()
        self.world = klampt.WorldModel()
        if not self.world.loadRobot(self.tmp.name):
            raise RuntimeError('klampt could not load ' + arm.path)
        self.robot = self.world.robot(0)
        by_name = {self.robot.link(i).getName(): i for i in range(self.robot.numLinks())}
        child = {j.name: j.child for j in arm.model._frame_joint}
        self.links = [by_name[child[n]] for n in arm.names]
        self.tip = self.robot.link(arm.tip)
        lo, hi = self.robot.getJointLimits()
        for i, link in enumerate(self.links):
            lo[link], hi[link] = arm.lower[i], arm.upper[i]
        self.robot.setJointLimits(lo, hi)

    def __call__(self, target, seed, k):
        goal = self.ik.objective(self.tip, R=list(target[:3, :3].T.ravel()), t=list(target[:3, 3]))
        solver = self.ik.solver(goal, iters=100, tol=1e-5)
        solver.setActiveDofs(self.links)
        q = self.robot.getConfig()
        for i, link in enumerate(self.links):
            q[link] = seed[i]
        self.robot.setConfig(q)
        deadline = time.perf_counter() + self.budget
        while True:
            if solver.solve():
                q = self.robot.getConfig()
                return np.array([q[link] for link in self.links])
            if time.perf_counter() >= deadline:
                return None
            solver.sampleInitial()


class Ikpy:
    """ikpy's scipy-based solver (single descent; it has no restarts or budget)."""

    def __init__(self, arm: Arm, budget: float):
        import warnings

        import ikpy.chain
        warnings.filterwarnings('ignore')
        self.arm = arm
        full = ikpy.chain.Chain.from_urdf_file(arm.path, base_elements=[arm.base])
        names = [link.name for link in full.links]
        self.index = [names.index(n) for n in arm.names]
        links = full.links[:self.index[-1] + 1]        # the chain ends at the last arm joint
        self.chain = ikpy.chain.Chain(links, active_links_mask=[
            i in self.index for i in range(len(links))])
        # ikpy's end frame is the last joint's child link; the tip is fixed to it
        last_child = next(j.child for j in arm.model._frame_joint if j.name == arm.names[-1])
        q0 = np.zeros(arm.model.num_dofs)
        self.tip_in_end = np.linalg.inv(arm.model.forward_kinematics(q0, last_child)) @ \
            arm.model.forward_kinematics(q0, arm.tip)

    def __call__(self, target, seed, k):
        end = self.arm.root_to_base @ target @ np.linalg.inv(self.tip_in_end)
        q0 = np.zeros(len(self.chain.links))
        q0[self.index] = seed
        q = self.chain.inverse_kinematics(end[:3, 3], end[:3, :3], orientation_mode='all',
                                          initial_position=q0)
        return np.asarray(q)[self.index]


SOLVERS = {'ik_service': IkService, 'trac_ik': TracIK, 'klampt': Klampt, 'ikpy': Ikpy}


# ---------------------------------------------------------------- runs
def problems(arm: Arm, count: int, rng, unreachable: bool = False, half_turn: bool = False):
    """
    (target pose, seed) pairs: poses of random configurations, seeds random too.

    unreachable: the target position is pushed out along the ray from the reach centre.
    half_turn: the seed is the target configuration with the last joint turned by
    pi - delta, delta up to 1e-3 rad, so the seed's tool is a near half turn from the
    target (a sin-based rotation error would call the seed solved).
    """
    out = []
    center, radius = arm.model.reach_bound(arm.model.link_id(arm.tip), np.zeros(3))
    for _ in range(count):
        goal_q, seed = arm.sample(rng, 2)
        target = arm.pose(goal_q)
        if unreachable:   # push the position out along the ray from the reach center
            d = target[:3, 3] - center
            target[:3, 3] = center + d / np.linalg.norm(d) * (radius * 1.2)
        if half_turn:
            seed = goal_q.copy()
            turn = np.pi - rng.uniform(0.0, 1e-3)
            seed[-1] += turn if seed[-1] + turn <= arm.upper[-1] else -turn
        out.append((target, seed))
    return out


def measure_together(solvers: dict, arm: Arm, cases, limits: Optional[dict] = None) -> dict:
    """
    Run every solver on every case, in blocks of ``BLOCK`` cases taken in turn.

    Taking turns makes drift in the machine's speed (other load, clock changes) hit
    every solver alike, so the ratios between them are fair; within a block a solver
    runs back to back, warm, as it would in use. ``limits`` caps the number of cases
    per solver (ikpy is slow). Returns {name: (solve rate, times [s], wrong)},
    wrong being the claimed successes that fail the FK check, for the solvers that ran.
    """
    limits = limits or {}
    names = list(solvers)
    runs = {name: ([], []) for name in names}       # (times, outcome per case)
    for first in range(0, len(cases), BLOCK):
        turn = (first // BLOCK) % len(names)
        for name in names[turn:] + names[:turn]:
            for k in range(first, min(first + BLOCK, limits.get(name, len(cases)))):
                target, seed = cases[k]
                start = time.perf_counter()
                q = solvers[name](target, seed, k)
                runs[name][0].append(time.perf_counter() - start)
                runs[name][1].append((q is not None, arm.solved(q, target)))
    out = {}
    for name, (times, outcomes) in runs.items():
        if not times:
            continue
        claimed, ok = np.array(outcomes, dtype=bool).reshape(-1, 2).T
        out[name] = (ok.mean(), np.array(times), int(np.sum(claimed & ~ok)))
    return out


def table(title: str, rows: list, show_rate: bool = True) -> None:
    """Print one table; rows are (robot, solver, (rate, times, wrong), TRAC-IK row or None)."""
    print(f'\n{title}')
    head = f'{"robot":7s} {"solver":31s} {"solved":>7s} {"wrong":>5s} {"median ms":>9s} ' \
           f'{"p95 ms":>7s} {"median/TRAC":>11s} {"p95/TRAC":>8s}'
    print(head)
    print('-' * len(head))
    for robot, name, (rate, times, wrong), ref in rows:
        med, p95 = np.median(times) * 1e3, np.percentile(times, 95) * 1e3
        ratio = ''
        if ref is not None:
            ratio = f'{med / (np.median(ref[1]) * 1e3):11.2f} ' \
                    f'{p95 / (np.percentile(ref[1], 95) * 1e3):8.2f}'
        shown = f'{rate * 100:6.1f}%' if show_rate else f'{"":7s}'
        print(f'{robot:7s} {name:31s} {shown} {wrong:5d} {med:9.3f} {p95:7.3f} {ratio}')


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--robots', nargs='+', default=DEFAULT_ROBOTS,
                        choices=list(ROBOTS) + ['all'])
    parser.add_argument('--solvers', nargs='+', default=list(SOLVERS), choices=list(SOLVERS))
    parser.add_argument('--targets', type=int, default=1000)
    parser.add_argument('--ikpy-targets', type=int, default=100, help='ikpy is slow')
    parser.add_argument('--unreachable', type=int, default=200)
    parser.add_argument('--half-turn', type=int, default=200)
    parser.add_argument('--budget', type=float, default=0.005, help='seconds per target')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--frame', choices=('root', 'base'), default='root',
                        help="ik_service's target frame: the URDF root or the arm's base link")
    args = parser.parse_args(argv)
    IkService.frame = args.frame
    if 'all' in args.robots:
        args.robots = list(ROBOTS)
    print(f'{args.targets} targets per robot, budget {args.budget * 1e3:g} ms, seed {args.seed}, '
          f'ik_service targets in the {args.frame} frame; '
          f'solved = position < {POSITION_TOL} m, orientation < {ROTATION_TOL} rad, inside '
          'limits; wrong = reported success but fails that check (ikpy never reports failure)')
    tables = {'reach': [], 'far': [], 'half': []}
    for key in args.robots:
        arm = Arm(key)
        rng = np.random.default_rng(args.seed)
        sets = {'reach': problems(arm, args.targets, rng),
                'far': problems(arm, args.unreachable, rng, unreachable=True),
                'half': problems(arm, args.half_turn, rng, half_turn=True)}
        solvers = {name: SOLVERS[name](arm, args.budget) for name in args.solvers}
        if 'ik_service' in solvers:
            solvers['ik_service (approximate=false)'] = IkService(arm, args.budget,
                                                                  approximate=False)
        measure_together(solvers, arm, sets['reach'][:5])    # warm-up
        results = {}
        for kind, cases in sets.items():
            # ikpy is slow and never gives up: a subset of the reachable tables only
            limits = {'ikpy': 0 if kind == 'far' else args.ikpy_targets,
                      'ik_service (approximate=false)': len(cases) if kind == 'far' else 0}
            results[kind] = measure_together(solvers, arm, cases, limits)
        for kind, by_solver in results.items():
            ref = by_solver.get('trac_ik')
            tables[kind] += [(key, name, r, ref) for name, r in by_solver.items()]
    table('Reachable 6-D targets', tables['reach'])
    table('Out-of-reach targets (position 1.2x the reach bound): time until failure is reported',
          tables['far'], show_rate=False)
    table('Near half-turn seeds (seed = target configuration with the last joint turned by '
          'pi - delta, delta <= 1e-3 rad)', tables['half'])


if __name__ == '__main__':
    main()
