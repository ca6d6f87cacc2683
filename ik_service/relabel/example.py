"""
A small LeRobot v3 dataset of a known arm motion: to try ``ik_service relabel`` and to test it.

Each episode is a smooth joint motion of the bundled UR5e (sines of random amplitude and
phase about a random configuration, inside the joint limits); the frames record the tool
pose in the base link (``observation.ee_pose``, xyz_xyzw) and the joints
(``observation.state``, float32, with the joint names). Deterministic for a given seed.

    python -m ik_service.relabel.example DIR [--episodes 4] [--frames 200]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .poses import pose_numbers
from ..core import JointLimits, load_urdf_file, RobotModel
from ..resources import bundled_urdf_path

LINK, BASE_LINK = 'tool0', 'base_link'
FPS = 30


def joint_motion(model: RobotModel, frames: int, rng) -> np.ndarray:
    """Return a smooth joint trajectory (frames, n) inside the limits, about 1 rad/s at most."""
    limits = JointLimits.from_model(model)
    lower, upper = np.maximum(limits.lower, -np.pi), np.minimum(limits.upper, np.pi)
    centre = lower + (upper - lower) * rng.uniform(0.3, 0.7, model.num_dofs)
    amplitude = rng.uniform(0.1, 0.5, model.num_dofs)
    frequency = rng.uniform(0.1, 0.3, model.num_dofs)       # [Hz]
    phase = rng.uniform(0, 2 * np.pi, model.num_dofs)
    t = np.arange(frames)[:, None] / FPS
    return limits.clip(centre + amplitude * np.sin(2 * np.pi * frequency * t + phase))


def write_example_dataset(root: str | Path, episodes: int = 4, frames: int = 200,
                          episodes_per_file: int = 2, seed: int = 0) -> list:
    """Write the dataset at ``root``; return each episode's joint trajectory (frames, n)."""
    root = Path(root)
    model = load_urdf_file(bundled_urdf_path())
    rng = np.random.default_rng(seed)
    names = list(model.joint_names)
    motions, rows = [], []
    for episode in range(episodes):
        q = joint_motion(model, frames, rng)
        base = model.forward_kinematics(q, BASE_LINK)
        pose = np.linalg.inv(base) @ model.forward_kinematics(q, LINK)
        motions.append(q)
        rows.append({
            'observation.ee_pose': pose_numbers(pose, 'xyz_xyzw'),
            'observation.state': q.astype(np.float32),
            'action': q.astype(np.float32),
            'timestamp': (np.arange(frames) / FPS).astype(np.float32),
            'frame_index': np.arange(frames), 'episode_index': np.full(frames, episode),
            'index': episode * frames + np.arange(frames), 'task_index': np.zeros(frames, int),
        })
    for first in range(0, episodes, episodes_per_file):
        part = rows[first:first + episodes_per_file]
        columns = {key: np.concatenate([r[key] for r in part]) for key in part[0]}
        table = pa.table({
            key: (pa.FixedSizeListArray.from_arrays(pa.array(v.ravel()), v.shape[1])
                  if v.ndim == 2 else pa.array(v)) for key, v in columns.items()})
        path = root / 'data' / 'chunk-000' / f'file-{first // episodes_per_file:03d}.parquet'
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path)
    vector = {'dtype': 'float32', 'shape': [len(names)], 'names': names}
    info = {
        'codebase_version': 'v3.0', 'robot_type': 'ur5e', 'fps': FPS,
        'total_episodes': episodes, 'total_frames': episodes * frames, 'total_tasks': 1,
        'chunks_size': 1000, 'splits': {'train': f'0:{episodes}'},
        'data_path': 'data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet',
        'video_path': None,
        'features': {
            'observation.ee_pose': {'dtype': 'float64', 'shape': [7],
                                    'names': ['x', 'y', 'z', 'qx', 'qy', 'qz', 'qw']},
            'observation.state': vector, 'action': vector,
            'timestamp': {'dtype': 'float32', 'shape': [1], 'names': None},
            'frame_index': {'dtype': 'int64', 'shape': [1], 'names': None},
            'episode_index': {'dtype': 'int64', 'shape': [1], 'names': None},
            'index': {'dtype': 'int64', 'shape': [1], 'names': None},
            'task_index': {'dtype': 'int64', 'shape': [1], 'names': None},
        },
    }
    (root / 'meta').mkdir(parents=True, exist_ok=True)
    (root / 'meta' / 'info.json').write_text(json.dumps(info, indent=2) + '\n')
    pq.write_table(pa.table({'task_index': [0], 'task': ['follow the motion']}),
                   root / 'meta' / 'tasks.parquet')
    return motions


def main(argv=None) -> None:
    """Write an example dataset: ``python -m ik_service.relabel.example DIR``."""
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('directory')
    parser.add_argument('--episodes', type=int, default=4)
    parser.add_argument('--frames', type=int, default=200)
    args = parser.parse_args(argv)
    write_example_dataset(args.directory, args.episodes, args.frames)
    print(f'{args.episodes} episodes of {args.frames} frames in {args.directory}')


if __name__ == '__main__':
    main()
