"""
What ``launch/ik_service.launch.py`` computes, here so that it is tested without launch.

The launch file starts robot_state_publisher (for the robot, and for the ghost robot that
shows each solution in RViz) with the same description as the node, and needs the name of
the root link to attach the ghost to the robot. Both come from the description as the user
gave it: URDF text, or a ``.urdf`` / ``.xacro`` file (expanded as the node expands it).
"""

from __future__ import annotations

from typing import Iterable

from ik_service.core import load_urdf_string
from ik_service.core.urdf_loader import read_description

# rviz:=true draws each solution as a second robot whose frames carry this prefix
GHOST_FRAME_PREFIX = 'ik_solution/'
# what the node publishes for RViz, relative to the launch namespace (node name ik_service)
SOLUTION_TOPIC = 'ik_service/solution'
MARKERS_TOPIC = 'ik_service/markers'


def description_text(text: str, path: str) -> str:
    """Return the URDF text: ``text`` when given, else the file at ``path`` (xacro expanded)."""
    return text or read_description(path).decode('utf-8')


def root_link(text: str) -> str:
    """Return the root link of a URDF; URDFError saying what is wrong when it does not load."""
    return load_urdf_string(text).root_link


def missing_packages(names: Iterable[str]) -> list[str]:
    """Return the ROS packages of ``names`` that the ament index does not know, in order."""
    from ament_index_python.packages import get_package_prefix, PackageNotFoundError

    missing = []
    for name in names:
        try:
            get_package_prefix(name)
        except (PackageNotFoundError, ValueError):
            missing.append(name)
    return missing
