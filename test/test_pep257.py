"""Docstring style, as ROS 2 packages check it (ament_pep257)."""

import os

from ament_pep257.main import main
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.linter
@pytest.mark.pep257
def test_pep257():
    rc = main(argv=[os.path.join(ROOT, 'ik_service'), os.path.join(ROOT, 'launch')])
    assert rc == 0, 'Found docstring style errors'
