"""
Compile the solver kernel once, ahead of use: ``python -m ik_service.core.kernel_warm_up``.

numba compiles the kernel's functions on their first call and caches the machine code
beside the sources (``__pycache__``), where later processes load it in a fraction of a
second. The project's set-up runs this, so no request ever waits for the compiler. It
solves small problems of every objective kind through the public functions, which call
the kernel with exactly the argument types a node does.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from . import closed_form, exact_math, kernel
from .objectives import IKObjective, ObjectiveSet, residual_and_jacobian
from .solver import solve
from .urdf_loader import load_urdf_string

_ARM = """<robot name="warm_up">
  <link name="base"/><link name="l1"/><link name="l2"/><link name="l3"/><link name="tip"/>
  <joint name="j1" type="revolute"><parent link="base"/><child link="l1"/>
    <axis xyz="0 0 1"/><limit lower="-3" upper="3" effort="1" velocity="1"/></joint>
  <joint name="j2" type="prismatic"><parent link="l1"/><child link="l2"/>
    <origin xyz="0.3 0 0"/><axis xyz="0 0 1"/>
    <limit lower="0" upper="0.5" effort="1" velocity="1"/></joint>
  <joint name="j3" type="continuous"><parent link="l2"/><child link="l3"/>
    <origin xyz="0.3 0 0" rpy="0 1.5708 0"/><axis xyz="0 1 0"/></joint>
  <joint name="j4" type="revolute"><parent link="l3"/><child link="tip"/>
    <origin xyz="0 0 0.2"/><axis xyz="1 0 0"/><mimic joint="j1" multiplier="0.5"/>
    <limit lower="-3" upper="3" effort="1" velocity="1"/></joint>
</robot>"""


def warm_up() -> float:
    """Compile every kernel entry point (or load it from the cache); return the seconds taken."""
    started = time.perf_counter()
    model = load_urdf_string(_ARM)
    q = np.array([0.4, 0.2, 0.3])
    tip = model.forward_kinematics(q, 'tip')
    objectives = [
        IKObjective.fixed_pose('tip', tip[:3, :3], tip[:3, 3]),
        IKObjective.hinge('tip', [0, 0, 0.1], tip[:3, :3] @ [0, 0, 0.1] + tip[:3, 3],
                          [0, 0, 1], tip[:3, 2]),
        IKObjective.surface('tip', [0, 0, 0], tip[:3, 3], [0, 0, 1], [1, 0, 0], tip[:3, 0],
                            ref_link='l1'),
        IKObjective.on_line('tip', [0, 0, 0], tip[:3, 3], [1, 0, 0]),
    ]
    residual_and_jacobian(model, objectives, q)
    for mode in ('local', 'nearby', 'global'):
        solve(model, objectives[:1], q + 0.05, mode=mode, max_deviation=0.2)
        solve(model, objectives[1:], q + 0.05, mode=mode, max_deviation=0.2,
              bias=np.zeros(3))
    # without the mimic joint the seed table's turned ranking applies (its own compiled
    # search), and with a joint left out the starts are a column selection of the table
    plain = load_urdf_string(_ARM.replace('<mimic joint="j1" multiplier="0.5"/>', ''))
    q = np.array([0.4, 0.2, 0.3, 0.1])
    tip = plain.forward_kinematics(q, 'tip')
    for active in (None, ['j1', 'j2', 'j3']):
        solve(plain, [IKObjective.fixed_pose('tip', tip[:3, :3], tip[:3, 3])], q + 0.3,
              mode='global', active_joints=active)
    # the closed form's turns of its solutions (called as ClosedForm.starts calls it),
    solutions = np.array([[0.1, 3.0, -2.0], [-3.0, 0.2, 1.0]])
    kernel.nearest_turns(solutions, q[:3].copy(), np.full(3, -7.0), np.full(3, 7.0),
                         np.empty_like(solutions))
    # and their configurations a whole number of turns apart inside the limits
    closed_form._turned_configurations(solutions, np.full(3, -7.0),
                                       np.array([7.0, np.inf, 7.0]), q[:3].copy(),
                                       np.empty((16, 3)))
    # every solution of a pose: each checked by its largest error over the chain's dofs,
    # then placed into the seed nearest it first (all_solutions)
    chain = np.arange(3)
    ObjectiveSet(model, objectives[:1]).max_errors_at(solutions, chain, np.zeros(model.num_dofs))
    closed_form._placed_nearest_first(solutions, np.zeros(3), chain, np.empty((2, 3)))
    # how far a closed-form answer's pose is from the target's
    kernel.largest_difference(np.eye(4), np.eye(4))
    # the branch labels' singularity factors of a 6R chain's frames (6, B, 4, 4)
    kernel.branch_factors(np.tile(np.eye(4), (6, 1, 1, 1)), np.arange(6, dtype=np.int64),
                          True, 1.0, np.empty((1, 3)), np.empty((1, 3)))
    # a planar arm's closed form: a pose, and a point's position (2R)
    points = np.array([[0.0, 0.0], [1.0, 0.0], [1.8, 0.0]])
    closed_form._planar_pose(points, np.eye(4), np.ones(2), np.eye(4), 1e-9, np.empty((2, 2)))
    closed_form._planar_point(points, np.eye(4), np.ones(2), np.zeros(3), np.zeros(3), 1e-9,
                              np.empty((2, 2)))
    # and the machine-independent trigonometry as Python code calls it (URDF angles)
    exact_math.sincos(0.1), exact_math.atan2(0.1, 0.2)
    return time.perf_counter() - started


if __name__ == '__main__':
    print(f'solver kernel ready in {warm_up():.1f} s', file=sys.stderr)
