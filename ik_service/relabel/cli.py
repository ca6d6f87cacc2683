r"""
``ik_service relabel``: label recorded end-effector poses with joint positions.

    ik_service relabel DATASET DESTINATION --urdf robot.urdf --link tool0 \\
        --pose-column observation.ee_pose [--base-link base_link] [--workers 2]
    ik_service relabel BAG DESTINATION --link tool0 --pose-topic /ee_pose \\
        [--urdf robot.urdf] [--joint-topic /joint_states] [--tf-child tool0]
    ik_service relabel SOURCE --verify --urdf robot.urdf --link tool0 \\
        --pose-column observation.ee_pose --joint-column observation.state

Exit codes: 0 done (every frame solved, or verified within --verify-tolerance), 1 some
frames not solved or not consistent, 2 bad arguments or input (the message says which).
"""

from __future__ import annotations

import argparse
import sys
import time

from .bags import is_bag, relabel_bag
from .episode import RelabelConfig
from .lerobot import Columns, DatasetError, relabel_lerobot, verify_lerobot
from .poses import POSE_FORMATS
from ..core import IKError
from ..core.urdf_loader import read_description


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='ik_service', description='ik_service tools')
    commands = parser.add_subparsers(dest='command', required=True)
    p = commands.add_parser('relabel', help=__doc__.strip().splitlines()[0],
                            description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument('source', help='a LeRobot v3 dataset or a rosbag2 recording (a directory '
                   'with metadata.yaml); only read')
    p.add_argument('destination', nargs='?', help='the labelled copy (a new directory)')
    p.add_argument('--urdf', default='', help='robot description (.urdf or .xacro); a bag '
                   'may give its /robot_description instead')
    p.add_argument('--link', required=True, help='the end-effector link the poses are of')
    p.add_argument('--base-link', default='', help='the frame of the poses (default: root)')
    p.add_argument('--pose-column', default='', help='dataset: the column of the poses')
    p.add_argument('--pose-topic', default='', help='bag: PoseStamped or TFMessage topic')
    p.add_argument('--joint-topic', default='/joint_states',
                   help='bag: the JointState topic whose values seed the path')
    p.add_argument('--tf-child', default='', help='bag: with a TFMessage topic, the child '
                   'frame of the transforms to take (default: --link)')
    p.add_argument('--pose-format', default='xyz_xyzw', choices=sorted(POSE_FORMATS))
    p.add_argument('--pose-offset', type=int, default=0,
                   help='first index of the pose in the column vector')
    p.add_argument('--joint-column', default='',
                   help='recorded joint positions (with names in info.json): seed each '
                   'episode; with --verify, the joints checked')
    p.add_argument('--joints', default='', help='comma-separated joints to label '
                   '(default: those between base link and link)')
    p.add_argument('--seed', default='', help='comma-separated start of episodes without '
                   'recorded joints (default: zeros clipped into the limits)')
    p.add_argument('--tolerance', type=float, default=1e-7, help='[m or rad]')
    p.add_argument('--max-step', type=float, default=0.5,
                   help='largest joint change between frames [rad or m]')
    p.add_argument('--prefix', default='ik', help='prefix of the added columns')
    p.add_argument('--workers', type=int, default=1, help='processes labelling episodes')
    p.add_argument('--ray', default='', metavar='ADDRESS',
                   help="run episodes as tasks on a Ray cluster ('local': a local instance)")
    p.add_argument('--verify', action='store_true',
                   help='check --joint-column against the poses by forward kinematics')
    p.add_argument('--verify-tolerance', type=float, default=1e-4,
                   help='largest position [m] or rotation [rad] error accepted by --verify')
    return parser


def _progress(started: float):
    def show(done: int, total: int) -> None:
        rate = done / max(time.perf_counter() - started, 1e-9)
        eta = (total - done) / rate if rate > 0 else float('inf')
        print(f'\r{done}/{total} frames, {rate:,.0f} frames/s, ETA {eta:,.0f} s',
              end='' if done < total else '\n', file=sys.stderr, flush=True)
    return show


def main(argv=None) -> int:
    """Run ``ik_service relabel``; return the exit code."""
    args = _parser().parse_args(argv)
    columns = Columns(args.pose_column, args.pose_format, args.pose_offset, args.joint_column,
                      args.prefix)
    try:
        urdf = read_description(args.urdf).decode() if args.urdf else ''
        if args.verify:
            return _verify(args, urdf, columns)
        if not args.destination:
            raise DatasetError('give a destination directory (or --verify)')
        config = RelabelConfig(
            link=args.link, base_link=args.base_link,
            joints=tuple(j for j in args.joints.split(',') if j),
            seed=tuple(float(v) for v in args.seed.split(',') if v),
            tolerance=args.tolerance, max_step=args.max_step)
        progress = _progress(time.perf_counter())
        if is_bag(args.source):
            if not args.pose_topic:
                raise DatasetError('a bag needs --pose-topic')
            summary = relabel_bag(args.source, args.destination, urdf, config,
                                  args.pose_topic, args.joint_topic,
                                  args.tf_child or args.link,
                                  args.workers, progress, args.prefix, args.ray)
        else:
            if not args.pose_column or not urdf:
                raise DatasetError('a dataset needs --pose-column and --urdf')
            summary = relabel_lerobot(args.source, args.destination, urdf, config, columns,
                                      args.workers, progress, ray_address=args.ray)
    except (DatasetError, IKError, ValueError, OSError) as e:
        print(f'ik_service relabel: {e}', file=sys.stderr)
        return 2
    print(f'{summary["frames"]} frames: {summary["solved"]} solved, {summary["not_met"]} not '
          f'met, {summary["bad_pose"]} bad poses; {summary["written"]} files written, '
          f'{summary["skipped"]} already done; {summary["seconds"]:.1f} s')
    return 0 if summary['solved'] == summary['frames'] else 1


def _verify(args, urdf: str, columns: Columns) -> int:
    report = verify_lerobot(args.source, urdf, args.link, args.base_link, columns)
    worst = 0
    print('episode  frames  bad  max position error [m]  max rotation error [rad]')
    for r in report:
        print(f'{r["episode"]:7d} {r["frames"]:7d} {r["bad_frames"]:4d} '
              f'{r["max_position_error"]:23.3e} {r["max_rotation_error"]:25.3e}')
        bad = r['bad_frames'] or max(r['max_position_error'],
                                     r['max_rotation_error']) > args.verify_tolerance
        worst = max(worst, int(bad))
    return worst


if __name__ == '__main__':
    sys.exit(main())
