"""ik_service relabel on generated LeRobot v3 datasets of a known UR5e motion, checked by FK."""

import hashlib
import json
import os
from pathlib import Path
import subprocess
import sys

from ik_service.core import ClosedForm, load_urdf_file, UnknownLinkError
from ik_service.core.transforms import rotation_angle
from ik_service.relabel import (BAD_POSE, Columns, DatasetError, relabel_lerobot,
                                RelabelConfig, SOLVED, verify_lerobot)
from ik_service.relabel.example import BASE_LINK, LINK, write_example_dataset
from ik_service.relabel.lerobot import checksum
from ik_service.relabel.poses import pose_matrices, pose_numbers
from ik_service.resources import bundled_urdf_path
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

URDF = Path(bundled_urdf_path()).read_text()
MODEL = load_urdf_file(bundled_urdf_path())
CONFIG = RelabelConfig(link=LINK, base_link=BASE_LINK)
FORM = ClosedForm.of(MODEL, LINK, np.ones(MODEL.num_dofs, dtype=bool))
RECORDED = Columns('observation.ee_pose', recorded_joints='observation.state')


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp('lerobot') / 'source'
    motions = write_example_dataset(root, episodes=4, frames=150)
    return root, motions


def _frames(root: Path) -> dict:
    """Every data file's table of a dataset, by relative path."""
    return {p.relative_to(root).as_posix(): pq.read_table(p)
            for p in sorted((root / 'data').rglob('*.parquet'))}


def _vectors(table, column):
    return np.array(table.column(column).to_pylist(), dtype=float)


def _reached(joints: np.ndarray) -> np.ndarray:
    """Tool poses (N, 4, 4) in the base link at labelled joints (N, 6)."""
    base = MODEL.forward_kinematics(joints, BASE_LINK)
    return np.linalg.inv(base) @ MODEL.forward_kinematics(joints, LINK)


def test_labels_reproduce_the_poses_without_flips_and_any_worker_count_gives_the_same_bytes(
        dataset, tmp_path):
    source, motions = dataset
    before = checksum(source)
    outputs = {}
    for workers in (1, 2, 4):
        outputs[workers] = tmp_path / f'workers{workers}'
        summary = relabel_lerobot(source, outputs[workers], URDF, CONFIG, RECORDED, workers)
        assert summary['frames'] == summary['solved'] == 600 and summary['written'] == 2
    assert checksum(source) == before                      # the input is only read
    for workers in (2, 4):
        assert checksum(outputs[workers]) == checksum(outputs[1])
    for table in _frames(outputs[1]).values():
        poses, valid = pose_matrices(_vectors(table, 'observation.ee_pose'), 'xyz_xyzw')
        joints = _vectors(table, 'ik.joint_positions')
        reached = _reached(joints)
        assert np.abs(reached[:, :3, 3] - poses[:, :3, 3]).max() < 1e-6
        turn = np.swapaxes(reached[:, :3, :3], 1, 2) @ poses[:, :3, :3]
        assert rotation_angle(turn).max() < 1e-6
        assert (table.column('ik.status').to_numpy() == SOLVED).all()
        episodes = table.column('episode_index').to_numpy()
        branches = np.array(table.column('ik.branch').to_pylist())
        for e in np.unique(episodes):
            q = joints[episodes == e]
            np.testing.assert_allclose(q, motions[e], atol=1e-3)      # the recorded branch
            assert np.abs(np.diff(q, axis=0)).max() < 0.1           # no flips
            # the branch of the recorded motion, frame by frame (it changes where the motion
            # crosses a singular configuration; frames right at one may differ)
            truth = FORM.branches(motions[e])
            assert np.mean(branches[episodes == e] == np.array(truth)) > 0.98


# What another x86-64 machine computes with: the C library's sin, cos and atan2 without
# fused multiply-add and AVX (glibc chooses them by CPU, and their last bits differ),
# numpy's kernels without AVX2 and AVX-512, OpenBLAS's Nehalem kernels, and the compiled
# solver built for a generic CPU.
OTHER_CPU = {
    'GLIBC_TUNABLES': 'glibc.cpu.hwcaps=-AVX2,-FMA,-FMA4,-AVX512F,-AVX512DQ,-AVX512BW,-AVX512VL',
    'NPY_DISABLE_CPU_FEATURES': 'X86_V3 X86_V4 AVX512_ICL',
    'OPENBLAS_CORETYPE': 'Nehalem',
    'NUMBA_CPU_NAME': 'generic',
}
RELABEL_BOTH_WAYS = """
import sys
from pathlib import Path
from ik_service.relabel import Columns, relabel_lerobot, RelabelConfig
from ik_service.relabel.example import BASE_LINK, LINK
from ik_service.relabel.lerobot import checksum
from ik_service.resources import bundled_urdf_path
source, out = Path(sys.argv[1]), Path(sys.argv[2])
config = RelabelConfig(link=LINK, base_link=BASE_LINK)
# the arm mounted at an angle under a world link: its base pose is no identity
urdf = Path(bundled_urdf_path()).read_text()
mounted = urdf.replace('<link name="base_link"/>', (
    '<link name="world"/><link name="base_link"/><joint name="mount" type="fixed">'
    '<parent link="world"/><child link="base_link"/>'
    '<origin xyz="0.1 -0.2 0.3" rpy="0.3 -0.2 0.7"/></joint>'), 1)
recorded = Columns('observation.ee_pose', recorded_joints='observation.state')
for name, description, columns in (('recorded', urdf, recorded),
                                   ('first_frame', urdf, Columns('observation.ee_pose')),
                                   ('mounted', mounted, recorded)):
    relabel_lerobot(source, out / name, description, config, columns)
    print(name, checksum(out / name))
"""
SINES = 'import math; print(hash(tuple(math.sin(k * 0.001) for k in range(20000))))'


def test_labels_are_the_same_bytes_on_a_cpu_without_fma_or_avx(dataset, tmp_path):
    source, _ = dataset
    other = dict(os.environ, **OTHER_CPU, NUMBA_CACHE_DIR=str(tmp_path / 'numba'))

    def run(code, *args, env=None):
        done = subprocess.run([sys.executable, '-c', code, *map(str, args)], env=env,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
        return done.stdout

    if run(SINES) == run(SINES, env=other):
        pytest.skip('this CPU has no fused multiply-add: the C library has nothing to switch')
    here = run(RELABEL_BOTH_WAYS, source, tmp_path / 'here')
    elsewhere = run(RELABEL_BOTH_WAYS, source, tmp_path / 'elsewhere', env=other)
    assert here == elsewhere and len(here.splitlines()) == 3


def test_the_output_records_its_provenance_and_columns(dataset, tmp_path):
    source, _ = dataset
    relabel_lerobot(source, tmp_path / 'out', URDF, CONFIG, RECORDED)
    info = json.loads((tmp_path / 'out' / 'meta' / 'info.json').read_text())
    record = info['ik_provenance']
    assert record['urdf_sha256'] == hashlib.sha256(URDF.encode()).hexdigest()
    assert record['input_sha256'] == checksum(source)
    assert record['config'] == CONFIG.as_dict() and record['ik_service_version']
    assert info['features']['ik.joint_positions']['names'] == list(MODEL.joint_names)
    assert (tmp_path / 'out' / 'meta' / 'tasks.parquet').read_bytes() == \
        (source / 'meta' / 'tasks.parquet').read_bytes()


def test_episodes_without_recorded_joints_start_from_the_seed(dataset, tmp_path):
    source, _ = dataset
    relabel_lerobot(source, tmp_path / 'out', URDF, CONFIG, Columns('observation.ee_pose'))
    for table in _frames(tmp_path / 'out').values():
        joints = _vectors(table, 'ik.joint_positions')
        assert (table.column('ik.status').to_numpy() == SOLVED).all()
        poses, _ = pose_matrices(_vectors(table, 'observation.ee_pose'), 'xyz_xyzw')
        assert np.abs(_reached(joints)[:, :3, 3] - poses[:, :3, 3]).max() < 1e-6
        episodes = table.column('episode_index').to_numpy()
        for e in np.unique(episodes):
            assert np.abs(np.diff(joints[episodes == e], axis=0)).max() < 0.1


def test_an_interrupted_run_resumes_and_ends_with_the_same_bytes(dataset, tmp_path):
    source, _ = dataset
    relabel_lerobot(source, tmp_path / 'whole', URDF, CONFIG, RECORDED)

    def stop_after_the_first_file(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        relabel_lerobot(source, tmp_path / 'resumed', URDF, CONFIG, RECORDED,
                        progress=stop_after_the_first_file)
    summary = relabel_lerobot(source, tmp_path / 'resumed', URDF, CONFIG, RECORDED)
    assert summary['skipped'] == 1 and summary['written'] == 1 and summary['solved'] == 600
    assert checksum(tmp_path / 'resumed') == checksum(tmp_path / 'whole')
    with pytest.raises(DatasetError, match='other inputs or settings'):
        relabel_lerobot(source, tmp_path / 'resumed', URDF,
                        RelabelConfig(link=LINK, base_link=BASE_LINK, tolerance=1e-6), RECORDED)


def test_bad_frames_get_a_status_and_no_label(dataset, tmp_path):
    source, _ = dataset
    broken = tmp_path / 'broken'
    write_example_dataset(broken, episodes=2, frames=40, episodes_per_file=2)
    path = broken / 'data' / 'chunk-000' / 'file-000.parquet'
    table = pq.read_table(path)
    poses = _vectors(table, 'observation.ee_pose')
    poses[5, 0] = np.nan            # not finite
    poses[9, 3:] *= 1.5             # not a unit quaternion
    column = pa.FixedSizeListArray.from_arrays(pa.array(poses.ravel()), 7)
    pq.write_table(table.set_column(0, 'observation.ee_pose', column), path)
    relabel_lerobot(broken, tmp_path / 'out', URDF, CONFIG, RECORDED)
    out = pq.read_table(tmp_path / 'out' / 'data' / 'chunk-000' / 'file-000.parquet')
    status = out.column('ik.status').to_numpy()
    assert status[5] == status[9] == BAD_POSE
    assert (np.delete(status, [5, 9]) == SOLVED).all()
    joints = _vectors(out, 'ik.joint_positions')
    assert np.isnan(joints[[5, 9]]).all() and np.isfinite(np.delete(joints, [5, 9], 0)).all()


@pytest.mark.parametrize('config, columns, error, words', [
    (CONFIG, Columns('observation.nothing'), DatasetError, 'no column'),
    (CONFIG, Columns('observation.ee_pose', pose_offset=3), DatasetError, 'needs 10'),
    (RelabelConfig(link='no_such_link'), RECORDED, UnknownLinkError, 'no_such_link'),
    (CONFIG, Columns('observation.ee_pose', prefix='observation.ee_pose.x'), DatasetError,
     'already has'),
])
def test_mistakes_are_refused_before_anything_is_written(tmp_path, config, columns, error,
                                                         words):
    source = tmp_path / 'source'
    write_example_dataset(source, episodes=1, frames=5)
    info = json.loads((source / 'meta' / 'info.json').read_text())
    info['features']['observation.ee_pose.x.status'] = {'dtype': 'int8', 'shape': [1]}
    (source / 'meta' / 'info.json').write_text(json.dumps(info))
    with pytest.raises(error, match=words):
        relabel_lerobot(source, tmp_path / 'out', URDF, config, columns)
    assert not (tmp_path / 'out').exists()


def test_a_urdf_that_does_not_match_the_recorded_joints_is_refused(dataset, tmp_path):
    source, _ = dataset
    renamed = URDF.replace('"elbow_joint"', '"elbow"')
    with pytest.raises(DatasetError, match='does not match the recorded joints: elbow'):
        relabel_lerobot(source, tmp_path / 'out', renamed, CONFIG, RECORDED)


def test_verification_reports_each_episodes_fk_consistency(dataset, tmp_path):
    source, _ = dataset
    report = verify_lerobot(source, URDF, LINK, BASE_LINK, RECORDED)
    assert [r['episode'] for r in report] == [0, 1, 2, 3]
    assert all(r['bad_frames'] == 0 and r['max_position_error'] < 1e-5
               and r['max_rotation_error'] < 1e-5 for r in report)
    shifted = tmp_path / 'shifted'
    write_example_dataset(shifted, episodes=4, frames=150)
    path = shifted / 'data' / 'chunk-000' / 'file-001.parquet'
    table = pq.read_table(path)
    state = _vectors(table, 'observation.state').astype(np.float32)
    state[table.column('episode_index').to_numpy() == 3, 2] += 0.1     # a bad elbow encoder
    column = pa.FixedSizeListArray.from_arrays(pa.array(state.ravel()), 6)
    pq.write_table(table.set_column(1, 'observation.state', column), path)
    report = verify_lerobot(shifted, URDF, LINK, BASE_LINK, RECORDED)
    assert report[3]['max_position_error'] > 0.01 and report[2]['max_position_error'] < 1e-5
    done = subprocess.run(
        [sys.executable, '-m', 'ik_service.relabel', str(shifted), '--verify', '--urdf',
         bundled_urdf_path(), '--link', LINK, '--base-link', BASE_LINK, '--pose-column',
         'observation.ee_pose', '--joint-column', 'observation.state'],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert len(done.stdout.splitlines()) == 5


def test_the_command_line_labels_a_dataset_and_says_what_is_wrong(dataset, tmp_path):
    source, _ = dataset
    command = [sys.executable, '-m', 'ik_service.relabel', str(source), str(tmp_path / 'out'),
               '--urdf', bundled_urdf_path(), '--link', LINK, '--base-link', BASE_LINK,
               '--pose-column', 'observation.ee_pose', '--joint-column', 'observation.state']
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert '600 frames: 600 solved' in done.stdout and 'frames/s' in done.stderr
    done = subprocess.run(command[:-4] + ['--pose-column', 'ee'], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2 and "no column 'ee'" in done.stderr
    assert 'Traceback' not in done.stderr


@pytest.mark.parametrize('pose_format', ['xyz_xyzw', 'xyz_wxyz', 'xyz_rpy', 'matrix'])
def test_every_pose_format_reads_back_what_was_written_and_refuses_non_rigid_numbers(
        pose_format):
    rng = np.random.default_rng(4)
    q = rng.uniform(-1, 1, (20, 6))
    poses = _reached(q)
    numbers = pose_numbers(poses, pose_format)
    read, valid = pose_matrices(numbers, pose_format)
    assert valid.all() and np.abs(read - poses).max() < 1e-12
    numbers[3, 0] = np.inf
    numbers[7, 3:] *= 2.0       # a quaternion of norm 2, rpy angles (still a rotation), a
    read, valid = pose_matrices(numbers, pose_format)      # scaled matrix
    assert not valid[3] and valid[7] == (pose_format == 'xyz_rpy')
    assert valid.sum() == 18 + (pose_format == 'xyz_rpy')


def _write_bag(path: Path, storage, tf: bool = False, description: bool = True,
               frames: int = 120) -> np.ndarray:
    """Record a known UR5e motion: poses (PoseStamped or /tf), joint states, description."""
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import get_typestore, Stores
    from ik_service.relabel.example import joint_motion

    store = get_typestore(Stores.ROS2_KILTED)
    types = {name: store.types[name] for name in (
        'geometry_msgs/msg/PoseStamped', 'geometry_msgs/msg/Pose', 'geometry_msgs/msg/Point',
        'geometry_msgs/msg/Quaternion', 'std_msgs/msg/Header', 'builtin_interfaces/msg/Time',
        'sensor_msgs/msg/JointState', 'std_msgs/msg/String', 'tf2_msgs/msg/TFMessage',
        'geometry_msgs/msg/TransformStamped', 'geometry_msgs/msg/Transform',
        'geometry_msgs/msg/Vector3')}
    q = joint_motion(MODEL, frames, np.random.default_rng(7))
    poses = pose_numbers(_reached(q), 'xyz_xyzw')
    with Writer(path, version=9, storage_plugin=getattr(StoragePlugin, storage)) as writer:
        pose_topic = writer.add_connection(
            '/tf' if tf else '/ee_pose',
            'tf2_msgs/msg/TFMessage' if tf else 'geometry_msgs/msg/PoseStamped', typestore=store)
        joints = writer.add_connection('/joint_states', 'sensor_msgs/msg/JointState',
                                       typestore=store)
        if description:
            text = writer.add_connection('/robot_description', 'std_msgs/msg/String',
                                         typestore=store)
            writer.write(text, 1, store.serialize_cdr(types['std_msgs/msg/String'](data=URDF),
                                                      'std_msgs/msg/String'))
        for k, (row, pose) in enumerate(zip(q, poses)):
            ns = 1_000_000 + k * 10_000_000
            header = types['std_msgs/msg/Header'](
                stamp=types['builtin_interfaces/msg/Time'](sec=ns // 10**9, nanosec=ns % 10**9),
                frame_id=BASE_LINK)
            state = types['sensor_msgs/msg/JointState'](
                header=header, name=list(MODEL.joint_names), position=row, velocity=np.zeros(0),
                effort=np.zeros(0))
            writer.write(joints, ns - 1, store.serialize_cdr(state, 'sensor_msgs/msg/JointState'))
            point = types['geometry_msgs/msg/Point'](x=pose[0], y=pose[1], z=pose[2])
            turn = types['geometry_msgs/msg/Quaternion'](x=pose[3], y=pose[4], z=pose[5],
                                                         w=pose[6])
            if tf:
                move = types['geometry_msgs/msg/Transform'](
                    translation=types['geometry_msgs/msg/Vector3'](x=pose[0], y=pose[1],
                                                                   z=pose[2]), rotation=turn)
                other = types['geometry_msgs/msg/TransformStamped'](
                    header=header, child_frame_id='camera', transform=move)
                mine = types['geometry_msgs/msg/TransformStamped'](
                    header=header, child_frame_id=LINK, transform=move)
                msg, kind = types['tf2_msgs/msg/TFMessage'](transforms=[other, mine]), \
                    'tf2_msgs/msg/TFMessage'
            else:
                msg = types['geometry_msgs/msg/PoseStamped'](
                    header=header, pose=types['geometry_msgs/msg/Pose'](position=point,
                                                                        orientation=turn))
                kind = 'geometry_msgs/msg/PoseStamped'
            writer.write(pose_topic, ns, store.serialize_cdr(msg, kind))
    return q


@pytest.mark.parametrize('storage, tf', [('SQLITE3', False), ('MCAP', False), ('MCAP', True)])
def test_a_bag_is_labelled_from_its_poses_joint_states_and_description(tmp_path, storage, tf):
    from ik_service.relabel.bags import relabel_bag

    motion = _write_bag(tmp_path / 'bag', storage, tf=tf)
    summary = relabel_bag(tmp_path / 'bag', tmp_path / 'out', '', RelabelConfig(link=LINK),
                          '/tf' if tf else '/ee_pose', tf_child=LINK)
    assert summary['frames'] == summary['solved'] == 120
    table, = _frames(tmp_path / 'out').values()
    joints = _vectors(table, 'ik.joint_positions')
    np.testing.assert_allclose(joints, motion, atol=1e-3)      # the recorded branch, by FK:
    poses, _ = pose_matrices(_vectors(table, 'observation.ee_pose'), 'xyz_xyzw')
    assert np.abs(_reached(joints)[:, :3, 3] - poses[:, :3, 3]).max() < 1e-6
    np.testing.assert_allclose(table.column('timestamp').to_numpy(), np.arange(120) * 0.01)
    record = json.loads((tmp_path / 'out' / 'meta' / 'info.json').read_text())['ik_provenance']
    assert record['origin']['bag_sha256'] == checksum(tmp_path / 'bag')
    assert record['origin']['urdf_from'] == '/robot_description'
    assert record['config']['base_link'] == BASE_LINK


def test_bag_mistakes_are_named(tmp_path):
    from ik_service.relabel.bags import relabel_bag

    _write_bag(tmp_path / 'bag', 'MCAP', description=False, frames=5)
    with pytest.raises(DatasetError, match="no PoseStamped or TFMessage topic '/pose'.*"
                                           '/ee_pose'):
        relabel_bag(tmp_path / 'bag', tmp_path / 'out', URDF, CONFIG, '/pose')
    with pytest.raises(DatasetError, match='no --urdf given and no /robot_description'):
        relabel_bag(tmp_path / 'bag', tmp_path / 'out', '', CONFIG, '/ee_pose')
    with pytest.raises(DatasetError, match="in 'base_link', not in the base link 'world'"):
        relabel_bag(tmp_path / 'bag', tmp_path / 'out', URDF,
                    RelabelConfig(link=LINK, base_link='world'), '/ee_pose')
    done = subprocess.run(
        [sys.executable, '-m', 'ik_service.relabel', str(tmp_path / 'bag'),
         str(tmp_path / 'cli'), '--urdf', bundled_urdf_path(), '--link', LINK,
         '--pose-topic', '/ee_pose'], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and '5 frames: 5 solved' in done.stdout, done.stderr


def test_episodes_as_ray_tasks_give_the_same_bytes(dataset, tmp_path):
    source, _ = dataset
    relabel_lerobot(source, tmp_path / 'here', URDF, CONFIG, RECORDED)
    done = subprocess.run(
        [sys.executable, '-m', 'ik_service.relabel', str(source), str(tmp_path / 'ray'),
         '--urdf', bundled_urdf_path(), '--link', LINK, '--base-link', BASE_LINK,
         '--pose-column', 'observation.ee_pose', '--joint-column', 'observation.state',
         '--ray', 'local'], capture_output=True, text=True, timeout=300,
        env={**os.environ, 'RAY_AUTH_MODE': 'disabled'})
    assert done.returncode == 0, done.stderr
    assert checksum(tmp_path / 'ray') == checksum(tmp_path / 'here')
