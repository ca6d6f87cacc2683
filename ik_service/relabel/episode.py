"""
One IK configuration for a whole dataset, and the joint labels of one episode under it.

An episode's end-effector poses are solved as one continuous path
(``core.paths.solve_path``): each frame from the previous frame's answer, no joint moving
more than ``max_step`` between frames, no change of solution branch. It starts from the
episode's first recorded joint positions when the dataset has them; else from a solution
of its first frame: the one nearest ``seed`` first, then others (other branches) until
one carries the path through every frame. Every label is the compiled solver's own (no
closed-form solution is taken as it is: ``SolverSettings.closed_form`` is off), so the
same inputs give the same bits on every machine.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
import hashlib
from typing import Optional

import numpy as np

from ..core import (ClosedForm, GLOBAL, IKObjective, JointLimits, LOCAL, RobotModel, solve,
                    SolverSettings)
from ..core.paths import solve_path
from ..core.transforms import product

# An episode without recorded joints starts from global solves of its first frame (from
# the seed, then from random configurations): their restarts are counted, so the answers do
# not depend on the machine; the time only caps them. Solutions closer than DISTINCT
# [rad or m] in every joint are the same.
FIRST_STARTS, FIRST_RESTARTS, FIRST_TIMEOUT, DISTINCT = 32, 1000, 5.0, 1e-3

# Per-frame status of a label
SOLVED, NOT_MET, BAD_POSE = 0, 1, 2
STATUS_NAMES = {SOLVED: 'solved', NOT_MET: 'not met (closest configuration within max_step)',
                BAD_POSE: 'bad pose (not finite, or not a rotation): no label'}


@dataclass(frozen=True)
class RelabelConfig:
    """
    The IK configuration of a relabelling run; recorded whole in the output's provenance.

    link: the end-effector link; base_link: the frame the poses are in ('' = the URDF
    root). joints: the joints to label, in output order ('' = every joint between
    base_link and link). seed: start of an episode without recorded joints, one value
    per joint (empty = zeros clipped into the limits). tolerance [m or rad], max_step
    [rad or m] per frame, timeout [s] per frame (a cap; labels never depend on it
    unless a frame hits it), restarts_per_frame: starts inside the step box when the
    descent from the previous frame misses.
    """

    link: str
    base_link: str = ''
    joints: tuple = ()
    seed: tuple = ()
    tolerance: float = 1e-7
    max_step: float = 0.5
    timeout: float = 0.05
    restarts_per_frame: int = 16
    random_seed: int = 0

    def as_dict(self) -> dict:
        """Return the configuration as plain JSON-ready values."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


@dataclass
class EpisodeLabels:
    """
    Labels of an episode's N frames.

    joints (N, k) (NaN where BAD_POSE), status (N,) int8, position_error (N,) [m],
    rotation_error (N,) [rad] (NaN where BAD_POSE), branch (N,) of labels
    (``ClosedForm.branches``; '' where BAD_POSE or the chain has no closed form).
    """

    joints: np.ndarray
    status: np.ndarray
    position_error: np.ndarray
    rotation_error: np.ndarray
    branch: list


@dataclass
class Labeller:
    """A model bound to a configuration: what a worker needs to label episodes."""

    model: RobotModel
    config: RelabelConfig
    joint_names: list = field(init=False)
    joint_ids: np.ndarray = field(init=False)
    closed_form: Optional[ClosedForm] = field(init=False)

    def __post_init__(self):
        model, config = self.model, self.config
        model.link_id(config.link)                     # unknown links raise here
        if config.base_link:
            model.link_id(config.base_link)
        names = list(config.joints) or chain_joints(model, config.link, config.base_link)
        for name in names:
            model.joint_id(name)
        self.joint_names = names
        self.joint_ids = np.array([model.joint_id(n) for n in names], dtype=int)
        active = np.zeros(model.num_dofs, dtype=bool)
        active[self.joint_ids] = True
        self.closed_form = ClosedForm.of(model, config.link, active)
        if config.seed and len(config.seed) != len(names):
            raise ValueError(f'seed has {len(config.seed)} values for {len(names)} joints '
                             f'({", ".join(names)})')

    def _full(self, start: Optional[np.ndarray]) -> np.ndarray:
        """Return a configuration (n,) with the labelled joints at start (k,) (None: seed)."""
        q = np.zeros(self.model.num_dofs)
        q[self.joint_ids] = self.default_start() if start is None else start
        return q

    def default_start(self) -> np.ndarray:
        """Return the start (k,) of an episode without recorded joints."""
        limits = JointLimits.from_model(self.model)
        q = np.zeros(self.model.num_dofs)
        if self.config.seed:
            q[self.joint_ids] = self.config.seed
        return limits.clip(q)[self.joint_ids]

    def label(self, poses: np.ndarray, valid: np.ndarray,
              start: Optional[np.ndarray] = None) -> EpisodeLabels:
        """
        Label an episode: poses (N, 4, 4) of ``link`` in ``base_link``, valid (N,) bool.

        start (k,): the first recorded joint positions, or None for ``default_start``.
        """
        c, model = self.config, self.model
        count, k = len(poses), len(self.joint_ids)
        labels = EpisodeLabels(np.full((count, k), np.nan), np.full(count, BAD_POSE, np.int8),
                               np.full(count, np.nan), np.full(count, np.nan), [''] * count)
        frames = np.flatnonzero(valid)
        if len(frames) == 0:
            return labels
        # the poses in the root frame, once: errors are distances and angles, the same in
        # any frame, and each solve skips moving its targets (base_link is still: no
        # labelled joint moves it; joints outside the labels stay at the seed's values)
        base = model.forward_kinematics(self._full(start), c.base_link) if c.base_link else \
            np.eye(4)
        in_root = product(base, poses[frames])
        objectives = [[IKObjective.fixed_pose(c.link, t[:3, :3], t[:3, 3])] for t in in_root]
        if start is not None:
            starts = [self._full(start)]
        else:
            starts = self._first_frame_solutions(objectives[0])
        path = None
        for q in starts:        # the first start whose path is solved throughout, else the best
            candidate = solve_path(
                model, objectives, q, max_step=c.max_step,
                restarts_per_waypoint=c.restarts_per_frame, active_joints=self.joint_names,
                settings=SolverSettings(tolerance=c.tolerance, timeout=c.timeout,
                                        closed_form=False),
                random_seed=c.random_seed)
            if path is None or candidate.success.sum() > path.success.sum():
                path = candidate
            if path.success.all():
                break
        labels.joints[frames] = path.q[:, self.joint_ids]
        labels.status[frames] = np.where(path.success, SOLVED, NOT_MET)
        errors = np.array([r.objective_errors[0] for r in path.results]).reshape(-1, 2)
        labels.position_error[frames], labels.rotation_error[frames] = errors.T
        if self.closed_form is not None:
            for i, label in zip(frames.tolist(), self.closed_form.branches(path.q)):
                labels.branch[i] = label
        return labels

    def _first_frame_solutions(self, objectives: list) -> list:
        """
        Return distinct solutions (n,) of an episode's first frame, the seed's first.

        A global solve from the seed (counted restarts: the same on every machine), then
        descents from FIRST_STARTS - 1 random configurations. Without recorded joints nothing
        says which branch the episode was on, so each is tried in this order: one per
        branch first, then the same branches with joints a turn apart.
        """
        c, model = self.config, self.model
        seed = self._full(None)
        settings = SolverSettings(tolerance=c.tolerance, timeout=FIRST_TIMEOUT,
                                  max_restarts=FIRST_RESTARTS, closed_form=False)
        found, variants = [], []
        for k in range(FIRST_STARTS):
            # a descent from a random configuration ends in that configuration's basin:
            # other branches than the seed table's best guesses
            result = solve(model, objectives, seed, mode=LOCAL if k else GLOBAL,
                           settings=settings, active_joints=self.joint_names,
                           random_seed=c.random_seed + k, random_start=k > 0)
            if not result.success or any(_same(result.q, q, 0.0) for q in found + variants):
                continue
            # another branch, or the same joint angles a turn apart (tried after branches)
            same_branch = any(_same(result.q, q, 2 * np.pi) for q in found)
            (variants if same_branch else found).append(result.q)
        return found + variants or [seed]


def _same(a: np.ndarray, b: np.ndarray, period: float) -> bool:
    """Tell whether two configurations are within DISTINCT, angles modulo ``period`` if > 0."""
    d = a - b
    if period:
        d = (d + period / 2) % period - period / 2
    return bool(np.abs(d).max() <= DISTINCT)


def chain_joints(model: RobotModel, link: str, base_link: str = '') -> list:
    """Return the joints (names, root first) that move ``link`` but not ``base_link``."""
    moving = model.dofs_moving_links([model.link_id(link)])
    if base_link:
        moving = moving & ~model.dofs_moving_links([model.link_id(base_link)])
    return [model.joint_names[i] for i in np.flatnonzero(moving)]


def sha256_of_text(text: str) -> str:
    """Return the hex sha256 of a text's UTF-8 bytes."""
    return hashlib.sha256(text.encode()).hexdigest()
