"""Where the files shipped with ik_service live, in a colcon install or a source checkout."""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def bundled_urdf_path() -> str:
    """Path of the bundled default robot (a UR5e from its published DH parameters)."""
    return str(_PACKAGE_DIR / 'robots' / 'ur5e.urdf')


def default_params_file() -> str:
    """Path of ``config/ik_service.yaml``: the installed share folder, else the checkout."""
    try:
        from ament_index_python.packages import get_package_share_directory, PackageNotFoundError

        try:
            path = os.path.join(
                get_package_share_directory('ik_service'), 'config', 'ik_service.yaml'
            )
            if os.path.isfile(path):
                return path
        except (PackageNotFoundError, OSError):  # not installed, or no AMENT_PREFIX_PATH
            pass
    except ImportError:
        pass
    return str(_PACKAGE_DIR.parent / 'config' / 'ik_service.yaml')
