"""
LeRobot datasets (v3 layout) in, the same dataset with joint labels out.

A v3 dataset is ``meta/info.json`` (its ``features``: name -> dtype, shape, names) and
parquet files under ``data/`` holding the frames of one or more episodes each (column
``episode_index``), plus metadata and videos that relabelling copies unchanged. The
output is a new dataset (the input is only read) whose data files gain five columns:

  <prefix>.joint_positions   float64[k]  the labelled joints, in ``names`` order
  <prefix>.status            int8        0 solved, 1 not met, 2 bad pose (episode.STATUS_NAMES)
  <prefix>.position_error    float64     [m], by forward kinematics of the label
  <prefix>.rotation_error    float64     [rad]
  <prefix>.branch            string      the solution branch, on chains with a closed form
                                         (``ClosedForm.branches``), else empty

and whose ``meta/info.json`` records the run under ``ik_provenance``: the URDF's sha256,
the whole configuration, the ik_service version and a checksum of the input, enough to
regenerate the labels exactly. Output files are written whole (a temporary name, then a
rename) and listed with their sha256 in ``meta/ik_relabel_progress.json``: an interrupted
run started again with the same inputs skips the files already written.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
import hashlib
import json
import multiprocessing
import os
from pathlib import Path
import shutil
import time
from typing import Callable, Optional

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .episode import BAD_POSE, EpisodeLabels, Labeller, NOT_MET, RelabelConfig, SOLVED
from .poses import POSE_FORMATS, pose_matrices
from ..core import load_urdf_string
from ..core.transforms import rotation_angle

VERSION = '0.1.0'       # ik_service's, as setup.py gives it
PROGRESS_FILE = 'meta/ik_relabel_progress.json'
# Data files read ahead while the workers label earlier ones.
FILES_IN_FLIGHT = 4


class DatasetError(ValueError):
    """The dataset, its columns or the arguments do not fit together; the message says how."""


@dataclass(frozen=True)
class Columns:
    """
    Where the poses are and what to write.

    The pose column, its format and offset in the column's vector; the recorded joint
    column (optional: it seeds episodes); the prefix of the added columns.
    """

    pose: str
    pose_format: str = 'xyz_xyzw'
    pose_offset: int = 0
    recorded_joints: str = ''
    prefix: str = 'ik'

    def output(self) -> list:
        """Return the names of the columns the run adds."""
        return [f'{self.prefix}.{name}' for name in
                ('joint_positions', 'status', 'position_error', 'rotation_error', 'branch')]


# ---------------------------------------------------------------------------- reading
def read_info(root: Path) -> dict:
    """Return meta/info.json of a v3 dataset, or raise DatasetError saying what is wrong."""
    path = root / 'meta' / 'info.json'
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise DatasetError(f'{path}: not a readable LeRobot info.json ({e})') from None
    version = str(info.get('codebase_version', ''))
    if not version.startswith('v3'):
        raise DatasetError(f'{root} is a LeRobot {version or "unknown-version"} dataset; '
                           'relabel reads the v3 layout (convert it with LeRobot first)')
    if not isinstance(info.get('features'), dict):
        raise DatasetError(f'{path} has no "features" mapping')
    return info


def data_files(root: Path) -> list:
    """Return the dataset's data parquet files, relative to root, in a fixed order."""
    files = sorted(p.relative_to(root).as_posix() for p in (root / 'data').rglob('*.parquet'))
    if not files:
        raise DatasetError(f'{root / "data"} holds no parquet files')
    return files


def feature_names(info: dict, column: str) -> Optional[list]:
    """Return the per-element names of a vector feature (LeRobot's "names"), or None."""
    names = info['features'][column].get('names')
    if isinstance(names, dict) and len(names) == 1:
        names = next(iter(names.values()))
    return [str(n) for n in names] if isinstance(names, list) else None


def _vectors(table: pa.Table, column: str) -> np.ndarray:
    """Return a vector column as a float64 array (N, width)."""
    values = table.column(column).combine_chunks()
    if pa.types.is_fixed_size_list(values.type) or pa.types.is_list(values.type):
        flat = values.flatten().to_numpy(zero_copy_only=False).astype(float)
        width = len(flat) // max(1, len(values))
        if width * len(values) != len(flat):
            raise DatasetError(f'column {column!r} has vectors of different lengths')
        return flat.reshape(len(values), width)
    return values.to_numpy(zero_copy_only=False).astype(float)[:, None]


def _poses(table: pa.Table, columns: Columns) -> tuple[np.ndarray, np.ndarray]:
    """Return a data file's poses (N, 4, 4) and which are valid (N,), from ``columns``."""
    start = columns.pose_offset
    numbers = _vectors(table, columns.pose)[:, start:start + POSE_FORMATS[columns.pose_format]]
    return pose_matrices(numbers, columns.pose_format)


def checksum(root: Path) -> str:
    """Return a sha256 over every file of a dataset (relative path and content)."""
    total = hashlib.sha256()
    for path in sorted(p for p in root.rglob('*') if p.is_file()):
        total.update(path.relative_to(root).as_posix().encode() + b'\0')
        with open(path, 'rb') as f:
            for block in iter(lambda: f.read(1 << 20), b''):
                total.update(block)
    return total.hexdigest()


# ---------------------------------------------------------------------------- workers
_WORKER: dict = {}


def _worker_start(urdf: str, config: RelabelConfig) -> None:
    _WORKER['labeller'] = Labeller(load_urdf_string(urdf), config)


def _label(task: tuple) -> EpisodeLabels:
    poses, valid, start = task
    return _WORKER['labeller'].label(poses, valid, start)


def _label_with(urdf: str, config: RelabelConfig, task: tuple) -> EpisodeLabels:
    """Label one episode in a Ray worker (the labeller of the last run is kept)."""
    key = (hashlib.sha256(urdf.encode()).hexdigest(), config)
    if _WORKER.get('key') != key:
        _worker_start(urdf, config)
        _WORKER['key'] = key
    return _label(task)


class RayPool:
    """
    Episodes as Ray tasks on a running cluster (``address``) or a local instance ('local').

    The cluster's workers need ik_service installed, like this process. Labels are the
    same as in-process ones: a task depends only on its episode and the configuration.
    """

    def __init__(self, address: str, urdf: str, config: RelabelConfig):
        try:
            import ray
        except ImportError:
            raise DatasetError('--ray needs the ray package (pip install ray)') from None
        self._ray = ray
        self._started = not ray.is_initialized()
        if self._started:
            ray.init(address=None if address == 'local' else address,
                     include_dashboard=False, log_to_driver=False)
        self._urdf = ray.put(urdf)
        self._config = config
        self._remote = ray.remote(_label_with)

    def submit(self, function, task: tuple):
        """Start labelling an episode; the returned object's result() waits for it."""
        ref = self._remote.remote(self._urdf, self._config, task)
        return _RayResult(self._ray, ref)

    def shutdown(self, cancel_futures: bool = False) -> None:
        """Leave the cluster if this pool joined it."""
        if self._started:
            self._ray.shutdown()


@dataclass
class _RayResult:
    ray: object
    ref: object

    def result(self) -> EpisodeLabels:
        return self.ray.get(self.ref)


# ---------------------------------------------------------------------------- relabelling
def relabel_lerobot(source: str | Path, destination: str | Path, urdf: str,
                    config: RelabelConfig, columns: Columns, workers: int = 1,
                    progress: Optional[Callable[[int, int], None]] = None,
                    origin: Optional[dict] = None, ray_address: str = '') -> dict:
    """
    Write ``destination``: the dataset at ``source`` with joint labels (module docstring).

    urdf: the robot description text. workers: processes labelling episodes in parallel
    (the output is byte-identical for any count). progress(frames done, frames total) is
    called after each data file. origin: what the dataset was made from (a bag; recorded
    in the provenance). ray_address: run the episodes as Ray tasks instead ('local'
    starts a local instance; ``RayPool``); the output is the same. Returns a summary:
    frames, solved, not_met, bad_pose, files written and skipped, seconds.
    """
    source, destination = Path(source), Path(destination)
    started = time.perf_counter()
    info = read_info(source)
    files = data_files(source)
    labeller = Labeller(load_urdf_string(urdf), config)
    _check_columns(info, columns)
    provenance = {
        'tool': 'ik_service relabel', 'ik_service_version': VERSION,
        'urdf_sha256': hashlib.sha256(urdf.encode()).hexdigest(),
        'input_sha256': checksum(source), 'config': config.as_dict(),
        'columns': asdict(columns),
        'joint_names': labeller.joint_names,
    }
    if origin:
        provenance['origin'] = origin
    done = _prepare_destination(source, destination, provenance)
    recorded = _recorded_joint_index(info, columns, labeller)
    totals = {'frames': 0, 'solved': 0, 'not_met': 0, 'bad_pose': 0, 'written': 0,
              'skipped': 0}
    total_frames = sum(pq.read_metadata(source / f).num_rows for f in files)
    pool = None
    if ray_address:
        pool = RayPool(ray_address, urdf, config)
    elif workers > 1:
        # forked workers start at once and need no importable __main__ (a script read
        # from stdin, a notebook); they only run numpy and the compiled kernel
        context = multiprocessing.get_context(
            'fork' if 'fork' in multiprocessing.get_all_start_methods() else 'spawn')
        pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_start,
                                   initargs=(urdf, config))
    in_flight: deque = deque()     # files read, their episodes labelled by the workers

    def finish(name: str, table: pa.Table, rows: list, results: list) -> None:
        table = _with_labels(table, columns, labeller, rows,
                             [r.result() if pool is not None else r for r in results])
        _write_atomically(table, destination / name)
        done[name] = _sha256(destination / name)
        _write_json(destination / PROGRESS_FILE, {'provenance': provenance, 'files': done})
        _count(totals, table.column(f'{columns.prefix}.status').to_numpy())
        totals['written'] += 1
        if progress is not None:
            progress(totals['frames'], total_frames)

    try:
        for name in files:
            output = destination / name
            if done.get(name) and output.is_file() and _sha256(output) == done[name]:
                table = pq.read_table(output, columns=[f'{columns.prefix}.status'])
                _count(totals, table.column(0).to_numpy())
                totals['skipped'] += 1
                continue
            table = pq.read_table(source / name)
            rows, tasks = _episode_tasks(table, columns, recorded)
            results = [pool.submit(_label, t) for t in tasks] if pool is not None else \
                [labeller.label(*t) for t in tasks]
            in_flight.append((name, table, rows, results))
            while len(in_flight) > FILES_IN_FLIGHT:      # bounded memory, busy workers
                finish(*in_flight.popleft())
        while in_flight:
            finish(*in_flight.popleft())
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    _write_json(destination / 'meta' / 'info.json',
                _labelled_info(info, columns, labeller, provenance))
    totals['seconds'] = time.perf_counter() - started
    return totals


def _check_columns(info: dict, columns: Columns, adds_columns: bool = True) -> None:
    features = info['features']
    if columns.pose_format not in POSE_FORMATS:
        raise DatasetError(f'pose format {columns.pose_format!r} is not one of '
                           f'{", ".join(POSE_FORMATS)}')
    for column in (columns.pose, columns.recorded_joints):
        if column and column not in features:
            raise DatasetError(f'no column {column!r} in the dataset; its features are '
                               f'{", ".join(sorted(features))}')
    width = int(np.prod(features[columns.pose].get('shape') or [1]))
    needed = columns.pose_offset + POSE_FORMATS[columns.pose_format]
    if columns.pose_offset < 0 or needed > width:
        raise DatasetError(f'column {columns.pose!r} holds {width} numbers per frame; a '
                           f'{columns.pose_format} pose at offset {columns.pose_offset} '
                           f'needs {needed}')
    taken = [c for c in columns.output() if c in features]
    if adds_columns and taken:
        raise DatasetError(f'the dataset already has {", ".join(taken)}: choose another '
                           'prefix (--prefix)')


def _recorded_joint_index(info: dict, columns: Columns,
                          labeller: Labeller) -> Optional[np.ndarray]:
    """Return where each labelled joint sits in the recorded joint vector, or None."""
    if not columns.recorded_joints:
        return None
    names = feature_names(info, columns.recorded_joints)
    if names is None:
        raise DatasetError(f'column {columns.recorded_joints!r} has no joint names in '
                           'meta/info.json ("names"), so its values cannot be matched to '
                           "the URDF's joints")
    missing = [n for n in labeller.joint_names if n not in names]
    if missing:
        raise DatasetError(f'the URDF does not match the recorded joints: '
                           f'{", ".join(missing)} not among {columns.recorded_joints!r} '
                           f'names ({", ".join(names)})')
    return np.array([names.index(n) for n in labeller.joint_names])


def _prepare_destination(source: Path, destination: Path, provenance: dict) -> dict:
    """Copy what is not relabelled; return the files a previous identical run wrote."""
    if destination.resolve() == source.resolve() or \
            source.resolve() in destination.resolve().parents:
        raise DatasetError('the destination must be outside the source dataset')
    progress = destination / PROGRESS_FILE
    if destination.exists() and any(destination.iterdir()):
        try:
            previous = json.loads(progress.read_text())
        except (OSError, ValueError):
            raise DatasetError(f'{destination} exists and is not an interrupted relabelling '
                               'run: give a new destination') from None
        if previous.get('provenance') != provenance:
            raise DatasetError(f'{destination} holds a run with other inputs or settings: '
                               'give a new destination')
        return dict(previous.get('files', {}))
    shutil.copytree(source, destination, dirs_exist_ok=True,
                    ignore=lambda d, names: [n for n in names if n.endswith('.parquet')
                                             and Path(d).resolve().is_relative_to(
                                                 (source / 'data').resolve())])
    _write_json(progress, {'provenance': provenance, 'files': {}})
    return {}


def _episode_tasks(table: pa.Table, columns: Columns,
                   recorded: Optional[np.ndarray]) -> tuple[list, list]:
    """Return a data file's episodes: their rows, and (poses, valid, start) to label each."""
    if 'episode_index' not in table.column_names:
        raise DatasetError('a data file has no episode_index column')
    episodes = table.column('episode_index').to_numpy()
    poses, valid = _poses(table, columns)
    joints = _vectors(table, columns.recorded_joints) if recorded is not None else None
    rows, tasks = [], []
    for episode in dict.fromkeys(episodes.tolist()):      # in order of appearance
        r = np.flatnonzero(episodes == episode)
        start = None
        if joints is not None and np.isfinite(joints[r[0], recorded]).all():
            start = joints[r[0], recorded]
        rows.append(r)
        tasks.append((poses[r], valid[r], start))
    return rows, tasks


def _with_labels(table: pa.Table, columns: Columns, labeller: Labeller, rows: list,
                 results: list) -> pa.Table:
    """Return ``table`` with the label columns, from each episode's rows and labels."""
    k = len(labeller.joint_names)
    out = EpisodeLabels(np.full((len(table), k), np.nan), np.zeros(len(table), np.int8),
                        np.zeros(len(table)), np.zeros(len(table)), [''] * len(table))
    for r, labels in zip(rows, results):
        out.joints[r], out.status[r] = labels.joints, labels.status
        out.position_error[r], out.rotation_error[r] = labels.position_error, \
            labels.rotation_error
        for i, label in zip(r.tolist(), labels.branch):
            out.branch[i] = label
    names = columns.output()
    added = [pa.FixedSizeListArray.from_arrays(pa.array(out.joints.ravel()), k),
             pa.array(out.status), pa.array(out.position_error), pa.array(out.rotation_error),
             pa.array(out.branch, type=pa.string())]
    for name, values in zip(names, added):
        table = table.append_column(name, values)
    return table.replace_schema_metadata(_hf_metadata(table.schema.metadata, names, k))


def _hf_metadata(metadata: Optional[dict], names: list, k: int) -> Optional[dict]:
    """Add the new columns to the Hugging Face ``datasets`` features in the schema metadata."""
    if not metadata or b'huggingface' not in metadata:
        return metadata
    hf = json.loads(metadata[b'huggingface'])
    features = hf.setdefault('info', {}).setdefault('features', {})
    value = {'dtype': 'float64', '_type': 'Value'}
    features[names[0]] = {'feature': value, 'length': k, '_type': 'Sequence'}
    features[names[1]] = {'dtype': 'int8', '_type': 'Value'}
    features[names[2]] = features[names[3]] = value
    features[names[4]] = {'dtype': 'string', '_type': 'Value'}
    return {**metadata, b'huggingface': json.dumps(hf).encode()}


def _labelled_info(info: dict, columns: Columns, labeller: Labeller, provenance: dict) -> dict:
    joints, status, position, rotation, branch = columns.output()
    features = dict(info['features'])
    features[joints] = {'dtype': 'float64', 'shape': [len(labeller.joint_names)],
                        'names': labeller.joint_names}
    features[status] = {'dtype': 'int8', 'shape': [1], 'names': None}
    features[position] = {'dtype': 'float64', 'shape': [1], 'names': None}
    features[rotation] = {'dtype': 'float64', 'shape': [1], 'names': None}
    features[branch] = {'dtype': 'string', 'shape': [1], 'names': None}
    return {**info, 'features': features, 'ik_provenance': provenance}


def _count(totals: dict, status: np.ndarray) -> None:
    totals['frames'] += len(status)
    totals['solved'] += int((status == SOLVED).sum())
    totals['not_met'] += int((status == NOT_MET).sum())
    totals['bad_pose'] += int((status == BAD_POSE).sum())


def _write_atomically(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + '.partial')
    pq.write_table(table, partial)
    os.replace(partial, path)


def _write_json(path: Path, value: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + '.partial')
    partial.write_text(json.dumps(value, indent=2, sort_keys=True) + '\n')
    os.replace(partial, path)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------------------- verification
def verify_lerobot(source: str | Path, urdf: str, link: str, base_link: str,
                   columns: Columns) -> list:
    """
    Check recorded joints against recorded poses, episode by episode, by forward kinematics.

    Returns one dict per episode: episode, frames, bad_frames (poses or joints not
    finite / not rigid), max_position_error [m], max_rotation_error [rad].
    """
    source = Path(source)
    info = read_info(source)
    model = load_urdf_string(urdf)
    labeller = Labeller(model, RelabelConfig(link=link, base_link=base_link))
    _check_columns(info, columns, adds_columns=False)
    if not columns.recorded_joints:
        raise DatasetError('verification needs the recorded joint column')
    index = _recorded_joint_index(info, columns, labeller)
    report = []
    for name in data_files(source):
        table = pq.read_table(source / name)
        episodes = table.column('episode_index').to_numpy()
        poses, valid = _poses(table, columns)
        joints = _vectors(table, columns.recorded_joints)[:, index]
        valid &= np.isfinite(joints).all(axis=1)
        q = np.zeros((len(table), model.num_dofs))
        q[:, labeller.joint_ids] = np.where(valid[:, None], joints, 0.0)
        reached = model.forward_kinematics(q, link)
        if base_link:
            reached = np.linalg.inv(model.forward_kinematics(q, base_link)) @ reached
        position = np.linalg.norm(reached[:, :3, 3] - poses[:, :3, 3], axis=1)
        rotation = rotation_angle(np.swapaxes(reached[:, :3, :3], 1, 2) @ poses[:, :3, :3])
        for episode in dict.fromkeys(episodes.tolist()):
            r = np.flatnonzero(episodes == episode)
            ok = r[valid[r]]
            report.append({'episode': int(episode), 'frames': len(r),
                           'bad_frames': int(len(r) - len(ok)),
                           'max_position_error': float(position[ok].max(initial=0.0)),
                           'max_rotation_error': float(rotation[ok].max(initial=0.0))})
    return report
