"""
ROS 2 bags in: the end-effector poses of a recording, as a one-episode LeRobot dataset.

A rosbag2 recording (a directory with ``metadata.yaml``; sqlite3 or MCAP storage) is read
with ``rosbags``, a pure-Python reader made for this. The poses come from one topic:
  geometry_msgs/PoseStamped   every message; its header.frame_id is the frame of the pose
  tf2_msgs/TFMessage          the transforms whose child_frame_id is ``tf_child`` (the
                              command line's default: the end-effector link)
All poses must be in one frame. The joints the robot reported (sensor_msgs/JointState on
``joint_topic``, the latest at or before each pose) become the recorded joints that seed
the path, when the bag has them; the robot description comes from ``--urdf`` or the bag's
latest std_msgs/String on /robot_description.

``bag_to_lerobot`` writes these frames as a LeRobot v3 dataset (timestamps in seconds
from the first pose, ``observation.ee_pose`` as xyz_xyzw, ``observation.state`` with the
joint names), which ``relabel_lerobot`` then labels like any other: one code path.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
import json
from pathlib import Path
import tempfile
from typing import Callable, Optional

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from rosbags.highlevel import AnyReader, AnyReaderError
from rosbags.typesys import get_typestore, Stores

from .episode import RelabelConfig
from .lerobot import checksum, Columns, DatasetError, relabel_lerobot

POSE_TYPES = ('geometry_msgs/msg/PoseStamped', 'tf2_msgs/msg/TFMessage')
JOINT_TYPE = 'sensor_msgs/msg/JointState'
DESCRIPTION_TOPIC = '/robot_description'


@dataclass
class BagFrames:
    """What a bag holds: stamps (N,) [ns], poses (N, 7) xyz_xyzw in ``frame``, joints."""

    stamps: np.ndarray
    poses: np.ndarray
    frame: str
    joint_names: list
    joints: Optional[np.ndarray]        # (N, J) or None when the bag has no joint states
    description: str                    # the latest /robot_description, or ''


def is_bag(path: str | Path) -> bool:
    """Tell whether ``path`` is a rosbag2 recording (a directory with metadata.yaml)."""
    return (Path(path) / 'metadata.yaml').is_file()


def read_bag(path: str | Path, pose_topic: str, joint_topic: str = '/joint_states',
             tf_child: str = '') -> BagFrames:
    """Read the poses on ``pose_topic`` and what goes with them (module docstring)."""
    try:
        reader = AnyReader([Path(path)], default_typestore=get_typestore(Stores.ROS2_KILTED))
        with reader:
            return _read(reader, pose_topic, joint_topic, tf_child)
    except (AnyReaderError, OSError) as e:
        raise DatasetError(f'{path}: not a readable rosbag2 recording ({e})') from None


def _read(reader: AnyReader, pose_topic: str, joint_topic: str, tf_child: str) -> BagFrames:
    topics = {c.topic: c.msgtype for c in reader.connections}
    if topics.get(pose_topic) not in POSE_TYPES:
        found = ', '.join(f'{t} ({m})' for t, m in sorted(topics.items())) or 'none'
        raise DatasetError(f'no PoseStamped or TFMessage topic {pose_topic!r} in the bag; its '
                           f'topics: {found}')
    wanted = [c for c in reader.connections
              if c.topic == pose_topic or (c.topic == joint_topic and c.msgtype == JOINT_TYPE)
              or (c.topic == DESCRIPTION_TOPIC and c.msgtype == 'std_msgs/msg/String')]
    stamps, poses, frames = [], [], set()
    joint_stamps, joint_rows, names = [], [], None
    description = ''
    for connection, stamp, raw in reader.messages(connections=wanted):
        msg = reader.deserialize(raw, connection.msgtype)
        if connection.topic == DESCRIPTION_TOPIC:
            description = msg.data
        elif connection.topic == pose_topic:
            for frame, child, xyz, xyzw in _poses(msg):
                if child is not None and child != tf_child:     # a transform of another link
                    continue
                frames.add(frame)
                stamps.append(stamp)
                poses.append(xyz + xyzw)
        else:
            if names is None:
                names = list(msg.name)
            if list(msg.name) == names and len(msg.position) == len(names):
                joint_stamps.append(stamp)
                joint_rows.append(np.asarray(msg.position, dtype=float))
    if not stamps:
        raise DatasetError(f'no poses on {pose_topic!r}' + (
            f' (TF transforms with child frame {tf_child!r})'
            if topics[pose_topic] == POSE_TYPES[1] else ''))
    if len(frames) > 1:
        raise DatasetError(f'the poses on {pose_topic!r} are in several frames '
                           f'({", ".join(sorted(frames))}); relabel takes one')
    stamps = np.array(stamps, dtype=np.int64)
    joints = None
    if joint_rows:      # the latest joint state at or before each pose (the first, before)
        at = np.searchsorted(np.array(joint_stamps), stamps, side='right') - 1
        joints = np.array(joint_rows)[np.maximum(at, 0)]
    return BagFrames(stamps, np.array(poses, dtype=float), frames.pop(), names or [], joints,
                     description)


def _poses(msg) -> list:
    """(frame, child frame or None, xyz, xyzw) of a PoseStamped or of each TF transform."""
    if hasattr(msg, 'pose'):
        p, o = msg.pose.position, msg.pose.orientation
        return [(msg.header.frame_id, None, [p.x, p.y, p.z], [o.x, o.y, o.z, o.w])]
    out = []
    for t in msg.transforms:
        v, r = t.transform.translation, t.transform.rotation
        out.append((t.header.frame_id, t.child_frame_id, [v.x, v.y, v.z], [r.x, r.y, r.z, r.w]))
    return out


def bag_to_lerobot(frames: BagFrames, root: str | Path) -> None:
    """Write a bag's frames as a one-episode LeRobot v3 dataset at ``root``."""
    root = Path(root)
    count = len(frames.stamps)
    seconds = (frames.stamps - frames.stamps[0]) * 1e-9
    columns = {
        'observation.ee_pose': pa.FixedSizeListArray.from_arrays(
            pa.array(frames.poses.ravel()), 7),
        'timestamp': pa.array(seconds), 'frame_index': pa.array(np.arange(count)),
        'episode_index': pa.array(np.zeros(count, dtype=np.int64)),
        'index': pa.array(np.arange(count)), 'task_index': pa.array(np.zeros(count, np.int64)),
    }
    features = {
        'observation.ee_pose': {'dtype': 'float64', 'shape': [7],
                                'names': ['x', 'y', 'z', 'qx', 'qy', 'qz', 'qw']},
        'timestamp': {'dtype': 'float64', 'shape': [1], 'names': None},
        'frame_index': {'dtype': 'int64', 'shape': [1], 'names': None},
        'episode_index': {'dtype': 'int64', 'shape': [1], 'names': None},
        'index': {'dtype': 'int64', 'shape': [1], 'names': None},
        'task_index': {'dtype': 'int64', 'shape': [1], 'names': None},
    }
    if frames.joints is not None:
        columns['observation.state'] = pa.FixedSizeListArray.from_arrays(
            pa.array(frames.joints.ravel()), len(frames.joint_names))
        features['observation.state'] = {'dtype': 'float64',
                                         'shape': [len(frames.joint_names)],
                                         'names': frames.joint_names}
    path = root / 'data' / 'chunk-000' / 'file-000.parquet'
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path)
    duration = float(seconds[-1]) if count > 1 else 0.0
    info = {'codebase_version': 'v3.0', 'robot_type': None,
            'fps': round((count - 1) / duration) if duration > 0 else 0,
            'total_episodes': 1, 'total_frames': count, 'total_tasks': 0,
            'chunks_size': 1000, 'splits': {'train': '0:1'},
            'data_path': 'data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet',
            'video_path': None, 'pose_frame': frames.frame, 'features': features}
    (root / 'meta').mkdir(parents=True, exist_ok=True)
    (root / 'meta' / 'info.json').write_text(json.dumps(info, indent=2) + '\n')


def relabel_bag(bag: str | Path, destination: str | Path, urdf: str, config: RelabelConfig,
                pose_topic: str, joint_topic: str = '/joint_states', tf_child: str = '',
                workers: int = 1, progress: Optional[Callable[[int, int], None]] = None,
                prefix: str = 'ik', ray_address: str = '') -> dict:
    """
    Write ``destination``: a bag's poses as a labelled one-episode LeRobot v3 dataset.

    urdf: the description text, or '' for the bag's /robot_description. The poses' frame
    is config.base_link ('' takes it from the messages). The provenance adds the bag's
    checksum and topics. Returns ``relabel_lerobot``'s summary.
    """
    frames = read_bag(bag, pose_topic, joint_topic, tf_child)
    from_bag = not urdf
    urdf = urdf or frames.description
    if not urdf:
        raise DatasetError(f'no --urdf given and no {DESCRIPTION_TOPIC} in the bag')
    if config.base_link and config.base_link != frames.frame:
        raise DatasetError(f'the poses on {pose_topic!r} are in {frames.frame!r}, not in the '
                           f'base link {config.base_link!r}')
    config = replace(config, base_link=frames.frame)
    columns = Columns('observation.ee_pose', 'xyz_xyzw', 0,
                      'observation.state' if frames.joints is not None else '', prefix)
    record = {'bag': Path(bag).name, 'bag_sha256': checksum(Path(bag)),
              'pose_topic': pose_topic, 'joint_topic': joint_topic, 'tf_child': tf_child,
              'urdf_from': DESCRIPTION_TOPIC if from_bag else 'file'}
    with tempfile.TemporaryDirectory(prefix='ik_relabel_bag_') as converted:
        bag_to_lerobot(frames, converted)
        return relabel_lerobot(converted, destination, urdf, config, columns, workers,
                               progress, origin=record, ray_address=ray_address)
