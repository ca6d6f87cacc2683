"""Code style, as ROS 2 packages check it (ament_flake8)."""

import os

from ament_flake8.main import main_with_errors
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.flake8
@pytest.mark.linter
def test_flake8():
    paths = [os.path.join(ROOT, p) for p in ('ik_service', 'test', 'launch', 'bench', 'setup.py')]
    rc, errors = main_with_errors(argv=[p for p in paths if os.path.exists(p)])
    assert rc == 0, f'Found {len(errors)} code style errors / warnings:\n' + '\n'.join(errors)
