"""Rotation helpers against SciPy, especially near a half turn where naive formulas fail."""
from ik_service.core.transforms import (
    angle_from_half_angle_vector,
    half_angle_vector,
    matrix_to_quaternion,
    rotation_angle,
    rotation_log,
    rotation_vector_from_parts,
    skew_and_trace_map,
    vee_of_skew_part,
)
import numpy as np
import pytest
from scipy.spatial.transform import Rotation


def _same_rotation_vector(ours, expected):
    """Rotation vectors are equal, or both a half turn about opposite (equivalent) axes."""
    if np.linalg.norm(expected) > np.pi - 1e-9:
        return np.allclose(ours, expected, atol=1e-9) or np.allclose(ours, -expected, atol=1e-9)
    return np.allclose(ours, expected, atol=1e-9)


@pytest.mark.parametrize('angle', [0.0, 1e-9, 1e-4, 0.5, 2.0, np.pi - 0.02, np.pi - 1e-2,
                                   np.pi - 3e-3, np.pi - 1e-6, np.pi])
def test_rotation_log_matches_scipy_at_every_angle(angle):
    rng = np.random.default_rng(0)
    axes = rng.normal(size=(20, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    vectors = axes * angle
    matrices = Rotation.from_rotvec(vectors).as_matrix()
    logs = rotation_log(matrices)
    for ours, expected in zip(logs, vectors):
        assert _same_rotation_vector(ours, expected)
    np.testing.assert_allclose(rotation_angle(matrices), angle, atol=1e-9)


def test_quaternions_match_scipy_up_to_sign():
    matrices = Rotation.random(50, random_state=1).as_matrix()
    ours = matrix_to_quaternion(matrices)
    expected = Rotation.from_matrix(matrices).as_quat()
    expected *= np.sign(expected[:, 3:4])
    np.testing.assert_allclose(ours, expected, atol=1e-12)


def test_skew_and_trace_map_is_the_linear_map_of_the_error_rotation():
    r, target = Rotation.random(2, random_state=2).as_matrix()
    err = r @ target.T
    expected = np.append(vee_of_skew_part(err), np.trace(err))
    np.testing.assert_allclose(r.ravel() @ skew_and_trace_map(target), expected, atol=1e-14)


def test_half_angle_vector_has_length_two_sin_half_angle_even_near_a_half_turn():
    rng = np.random.default_rng(4)
    axes = rng.normal(size=(6, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    angles = np.array([0.0, 1e-7, 0.5, 2.0, np.pi - 1e-3, np.pi - 1e-8])
    rotations = Rotation.from_rotvec(axes * angles[:, None]).as_matrix()
    parts = rotations.reshape(-1, 9) @ skew_and_trace_map(np.eye(3))
    e = half_angle_vector(parts[:, :3], (parts[:, 3] + 1.0) / 4.0, lambda rows: rotations[rows])
    np.testing.assert_allclose(e, axes * 2 * np.sin(angles / 2)[:, None], atol=1e-9)
    for vector, axis, angle in zip(e, axes, angles):
        np.testing.assert_allclose(angle_from_half_angle_vector(vector), axis * angle, atol=1e-7)


@pytest.mark.parametrize('angle', [0.0, 1e-9, 1e-4, 0.5, 2.0, np.pi - 0.011, np.pi - 1e-3])
def test_one_rotation_in_floats_matches_scipy_or_defers_near_a_half_turn(angle):
    rng = np.random.default_rng(5)
    axes = rng.normal(size=(10, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    for vector in axes * angle:
        parts = Rotation.from_rotvec(vector).as_matrix().ravel() @ skew_and_trace_map(np.eye(3))
        ours = rotation_vector_from_parts(parts[:3].tolist(), 0.5 * (parts[3] - 1.0))
        if angle > np.pi - 1e-2:
            assert ours is None         # the axis needs the full matrix there
        else:
            np.testing.assert_allclose(ours, vector, atol=1e-9)
