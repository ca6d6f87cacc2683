"""Shared test set-up: the test helpers on sys.path, and one rclpy client node per module."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))


@pytest.fixture(scope='module')
def ros():
    """Initialise rclpy and give the module's tests a client node."""
    import rclpy
    rclpy.init()
    node = rclpy.create_node('ik_service_test_client')
    yield node
    node.destroy_node()
    rclpy.shutdown()
