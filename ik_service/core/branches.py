"""
Solution branches as a request option: every labelled solution of a pose, or one branch.

A chain with a closed form labels each exact solution by the signs of its singularity
factors (``ClosedForm.branches``: 'shoulder+ elbow- wrist+'; planar arms 'elbow+').
``labelled_solutions`` lists a one-pose problem's solutions inside the limits with their
labels; ``solve_on_branch`` answers on one branch: its solution nearest the seed, refined
to the tolerance by a local solve.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from .closed_form import all_solutions
from .errors import InvalidSettingsError, NoSolutionError
from .limits import JointLimits
from .objectives import ObjectiveSet
from .solver import closed_form_of, IKResult, LOCAL, solve, SolverSettings


@dataclass
class LabelledSolutions:
    """
    A pose's solutions inside the limits (``closed_form.all_solutions``) and their labels.

    q (S, n): configurations, nearest the seed first; labels: each one's branch ('' for
    closed-form families without labels); near: the singular surfaces each one is near
    (``ClosedForm.near_singularities``); family: the closed form's.
    """

    q: np.ndarray
    labels: list
    near: list
    family: str


def labelled_solutions(problem: ObjectiveSet, seed: np.ndarray,
                       limits: Optional[JointLimits] = None,
                       active_joints: Optional[Sequence[str]] = None,
                       tolerance: float = 1e-9) -> Optional[LabelledSolutions]:
    """
    Return a one-pose problem's solutions inside the limits with their labels, or None.

    None when no closed form applies (``solver.closed_form_of``). seed (n,) poses the
    objective's reference link and orders the solutions; each exact one is checked by
    forward kinematics to ``tolerance`` [m and rad].
    """
    closed = closed_form_of(problem, active_joints, limits)
    if closed is None:
        return None
    form, active = closed
    every = all_solutions(problem.model, problem.objectives[0], seed, limits, active,
                          tolerance)
    if every is None:
        return None
    labels, near = form.describe(every) if len(every) else ([], [])
    return LabelledSolutions(every, labels, near, form.family)


def solve_on_branch(problem: ObjectiveSet, seed: np.ndarray, branch: str, *,
                    settings: SolverSettings = SolverSettings(),
                    limits: Optional[JointLimits] = None,
                    active_joints: Optional[Sequence[str]] = None,
                    solutions: Optional[LabelledSolutions] = None) -> IKResult:
    """
    Solve a one-pose problem on the branch labelled ``branch``, nearest the seed (n,).

    Its solution on that branch nearest the seed (``labelled_solutions``, or
    ``solutions`` when the caller has them), refined by a local solve. Raises
    InvalidSettingsError when the chain has no closed form or its family no labels, and
    NoSolutionError, naming the pose's branches, when none of its solutions inside the
    limits is on ``branch``.
    """
    found = solutions if solutions is not None else \
        labelled_solutions(problem, seed, limits, active_joints, settings.tolerance)
    if found is None:
        raise InvalidSettingsError(
            f'branch {branch!r}: branches are known only for one pose target on a chain '
            'with a closed form (6R arms such as UR or spherical wrists, planar arms)')
    if len(found.q) and not any(found.labels):
        raise InvalidSettingsError(
            f'branch {branch!r}: the closed form of this chain ({found.family}) has no '
            'branch labels (they are known for UR-style arms, spherical wrists and planar '
            'arms); leave branch empty')
    rows = [q for q, label in zip(found.q, found.labels) if label == branch]
    if not rows:
        names = ', '.join(sorted(set(found.labels))) or 'none inside the limits'
        raise NoSolutionError(f'no solution on branch {branch!r}; this pose has: {names}')
    return solve(problem.model, problem, rows[0], mode=LOCAL, settings=settings,
                 limits=limits, active_joints=active_joints)


__all__ = ['LabelledSolutions', 'labelled_solutions', 'solve_on_branch']
