"""
Relabelling throughput: frames per second of ``relabel_lerobot`` by worker count.

    .venv/bin/python bench/relabel_bench.py [--frames 100000] [--workers 1 2]

Writes the example dataset (the bundled UR5e's smooth motions, ``ik_service.relabel.
example``: episodes of 1000 frames at 30 Hz, two per data file) into a temporary folder,
labels it with each worker count from the recorded joints (the usual case) and without
(each episode then starts from solutions of its first frame), and prints frames/s, the
count solved and whether the outputs are byte-identical across worker counts.
"""
from __future__ import annotations

import argparse
from pathlib import Path
import tempfile

from ik_service.relabel import Columns, relabel_lerobot, RelabelConfig
from ik_service.relabel.example import BASE_LINK, LINK, write_example_dataset
from ik_service.relabel.lerobot import checksum
from ik_service.resources import bundled_urdf_path


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--frames', type=int, default=100_000)
    parser.add_argument('--workers', type=int, nargs='+', default=[1, 2])
    args = parser.parse_args(argv)
    urdf = Path(bundled_urdf_path()).read_text()
    config = RelabelConfig(link=LINK, base_link=BASE_LINK)
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / 'source'
        write_example_dataset(source, episodes=max(1, args.frames // 1000), frames=1000)
        for name, columns in (('recorded joints', Columns('observation.ee_pose',
                                                          recorded_joints='observation.state')),
                              ('no joints', Columns('observation.ee_pose'))):
            sums = set()
            for workers in args.workers:
                out = Path(tmp) / f'{name}-{workers}'
                s = relabel_lerobot(source, out, urdf, config, columns, workers)
                sums.add(checksum(out))
                print(f'{name:16s} workers {workers}: {s["frames"]} frames in '
                      f'{s["seconds"]:6.1f} s = {s["frames"] / s["seconds"]:8,.0f} frames/s; '
                      f'{s["solved"]} solved', flush=True)
            print(f'{name:16s} outputs byte-identical across worker counts: {len(sums) == 1}')


if __name__ == '__main__':
    main()
