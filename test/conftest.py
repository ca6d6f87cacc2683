"""Shared test set-up: test helpers and bench scripts on sys.path, one rclpy node per module."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                'bench'))     # the load and soak patterns of reliability.py


@pytest.fixture(scope='module')
def ros():
    """Initialise rclpy and give the module's tests a client node."""
    import rclpy
    rclpy.init()
    node = rclpy.create_node('ik_service_test_client')
    yield node
    node.destroy_node()
    rclpy.shutdown()
