"""Rigid-body helpers: quaternions, RPY, rotation angles and complements, against SciPy."""

from ik_service.core import InvalidObjectiveError
from ik_service.core.transforms import (
    matrix_to_quaternion,
    orthonormal_complement,
    quaternion_to_matrix,
    rotation_angle,
    rpy_to_matrix,
)
import numpy as np
import pytest
from scipy.spatial.transform import Rotation


def test_quaternions_match_scipy_up_to_sign():
    rotations = Rotation.random(50, random_state=1)
    for r in rotations:
        q = matrix_to_quaternion(r.as_matrix())
        assert min(np.abs(q - r.as_quat()).max(), np.abs(q + r.as_quat()).max()) < 1e-12
        np.testing.assert_allclose(quaternion_to_matrix(r.as_quat()), r.as_matrix(), atol=1e-12)
    with pytest.raises(InvalidObjectiveError):
        quaternion_to_matrix([0.0, 0.0, 0.0, 0.0])


def test_rpy_is_fixed_axis_roll_pitch_yaw():
    rpy = [0.3, -0.7, 2.1]
    np.testing.assert_allclose(rpy_to_matrix(rpy), Rotation.from_euler('xyz', rpy).as_matrix(),
                               atol=1e-12)


@pytest.mark.parametrize('angle', [0.0, 1e-9, 0.5, 3.0, np.pi - 1e-7, np.pi])
def test_rotation_angle_matches_scipy(angle):
    r = Rotation.from_rotvec(angle * np.array([0.6, 0.0, 0.8]))
    assert rotation_angle(r.as_matrix()) == pytest.approx(r.magnitude(), abs=1e-9)


def test_orthonormal_complement_spans_the_orthogonal_plane():
    for d in ([1.0, 0, 0], [0.1, 0.95, 0.0], [3.0, -4.0, 12.0]):
        c = orthonormal_complement(np.array(d))
        np.testing.assert_allclose(c @ c.T, np.eye(2), atol=1e-12)
        np.testing.assert_allclose(c @ np.array(d), 0.0, atol=1e-12)
