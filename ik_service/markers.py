"""
RViz markers of a solve: each objective's targets beside what its link achieved.

Everything is drawn in the root frame of the model, at the answer's configuration (a
target given relative to a link that moves is drawn where that link is in the answer).
Per objective ``i`` (marker id ``i`` in each namespace):

  targets / achieved   points: green spheres / orange spheres (the link's local points)
  target_line          linear objectives: the target line, 0.4 m long, through each point
  target_plane         planar objectives: a thin disc on the target plane at the first point
  target_frame / achieved_frame   fixed rotation: x, y, z axes (red, green, blue) 0.1 m long
  target_axis / achieved_axis     axial rotation: an arrow 0.15 m long

Every array starts with a DELETEALL marker, so a new request clears the previous one's.
"""

from __future__ import annotations

from typing import Sequence

from builtin_interfaces.msg import Time
from geometry_msgs.msg import Point, Pose, Quaternion, Vector3
from ik_service.core import IKObjective, RobotModel
from ik_service.core.objectives import objective_in_root_frame
from ik_service.core.transforms import matrix_to_quaternion, orthonormal_complement
import numpy as np
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

TARGET_COLOR = ColorRGBA(r=0.1, g=0.8, b=0.2, a=0.9)
ACHIEVED_COLOR = ColorRGBA(r=1.0, g=0.55, b=0.0, a=0.9)
AXIS_COLORS = (ColorRGBA(r=1.0, a=1.0), ColorRGBA(g=1.0, a=1.0), ColorRGBA(b=1.0, a=1.0))
POINT_DIAMETER = 0.02       # m
FRAME_AXIS_LENGTH = 0.1     # m
ARROW_LENGTH = 0.15         # m
LINE_HALF_LENGTH = 0.2      # m
PLANE_RADIUS = 0.1          # m


def _point(p) -> Point:
    return Point(x=float(p[0]), y=float(p[1]), z=float(p[2]))


class _Markers:
    """Collect markers of one frame and stamp."""

    def __init__(self, frame_id: str, stamp: Time):
        self.array = MarkerArray(markers=[Marker(action=Marker.DELETEALL)])
        self._frame_id, self._stamp = frame_id, stamp

    def add(self, ns: str, marker_id: int, kind: int, color: ColorRGBA, scale,
            points=(), colors=(), pose: Pose = None) -> None:
        m = Marker(ns=ns, id=marker_id, type=kind, action=Marker.ADD, color=color,
                   scale=Vector3(x=float(scale[0]), y=float(scale[1]), z=float(scale[2])),
                   points=[_point(p) for p in points], colors=list(colors),
                   pose=pose or Pose(orientation=Quaternion(w=1.0)), frame_locked=False)
        m.header.frame_id, m.header.stamp = self._frame_id, self._stamp
        self.array.markers.append(m)

    def triad(self, ns: str, marker_id: int, transform: np.ndarray, color: ColorRGBA) -> None:
        """Draw the axes of a frame (4, 4) as three coloured segments."""
        origin = transform[:3, 3]
        ends = origin + FRAME_AXIS_LENGTH * transform[:3, :3].T
        points = [p for end in ends for p in (origin, end)]
        colors = [c for c in AXIS_COLORS for _ in range(2)]
        self.add(ns, marker_id, Marker.LINE_LIST, color, (0.006, 0, 0), points, colors)

    def arrow(self, ns: str, marker_id: int, start, direction, color: ColorRGBA) -> None:
        self.add(ns, marker_id, Marker.ARROW, color, (0.008, 0.016, 0.02),
                 (start, start + ARROW_LENGTH * np.asarray(direction)))


def solve_markers(model: RobotModel, objectives: Sequence[IKObjective], q: np.ndarray,
                  stamp: Time) -> MarkerArray:
    """
    Return the markers of ``objectives`` at configuration ``q`` (n,), in the root frame.

    ``stamp`` is the header stamp of every marker (the time of the answer).
    """
    out = _Markers(model.root_link, stamp)
    for i, given in enumerate(objectives):
        o = objective_in_root_frame(model, given, q)
        link = model.forward_kinematics(q, o.link)
        rotation, origin = link[:3, :3], link[:3, 3]
        anchor = origin
        if o.position != 'none':
            achieved = o.local_points @ rotation.T + origin
            size = (POINT_DIAMETER,) * 3
            out.add('targets', i, Marker.SPHERE_LIST, TARGET_COLOR, size, o.target_points)
            out.add('achieved', i, Marker.SPHERE_LIST, ACHIEVED_COLOR, size, achieved)
            anchor = o.target_points[0]
        if o.position == 'linear':
            ends = [p + s * LINE_HALF_LENGTH * o.direction
                    for p in o.target_points for s in (-1.0, 1.0)]
            out.add('target_line', i, Marker.LINE_LIST, TARGET_COLOR, (0.004, 0, 0), ends)
        elif o.position == 'planar':
            u, v = orthonormal_complement(o.direction)
            x, y, z, w = matrix_to_quaternion(np.column_stack([u, v, o.direction]))
            disc = Pose(position=_point(o.target_points[0]),
                        orientation=Quaternion(x=x, y=y, z=z, w=w))
            out.add('target_plane', i, Marker.CYLINDER,
                    ColorRGBA(r=0.1, g=0.8, b=0.2, a=0.3),
                    (2 * PLANE_RADIUS, 2 * PLANE_RADIUS, 0.002), pose=disc)
        if o.rotation == 'fixed':
            target = np.eye(4)      # where the link frame should be
            target[:3, :3] = o.target_rotation
            target[:3, 3] = (o.target_points[0] - o.target_rotation @ o.local_points[0]
                             if o.position == 'fixed' else origin)
            out.triad('target_frame', i, target, TARGET_COLOR)
            out.triad('achieved_frame', i, link, ACHIEVED_COLOR)
        elif o.rotation == 'axial':
            out.arrow('target_axis', i, anchor, o.target_axis, TARGET_COLOR)
            out.arrow('achieved_axis', i, origin, rotation @ o.local_axis, ACHIEVED_COLOR)
    return out.array
