"""Forward kinematics and Jacobians, against closed forms, Pinocchio and finite differences."""

import math

from ik_service.core import (IKObjective, JointLimits, load_urdf_file, load_urdf_string,
                             residual_and_jacobian)
from ik_service.resources import bundled_urdf_path
import numpy as np
import pinocchio as pin
import pytest
from robots import ARMS, gripper_with_mimic_and_prismatic, planar_arm, robot_path


def dh_forward(q):
    """UR5e flange pose from the published DH table (the closed form the bundled URDF encodes)."""
    d = [0.1625, 0, 0, 0.1333, 0.0997, 0.0996]
    a = [0, -0.425, -0.3922, 0, 0, 0]
    alpha = [math.pi / 2, 0, 0, math.pi / 2, -math.pi / 2, 0]
    t = np.eye(4)
    for i in range(6):
        ct, st, ca, sa = math.cos(q[i]), math.sin(q[i]), math.cos(alpha[i]), math.sin(alpha[i])
        t = t @ np.array(
            [
                [ct, -st * ca, st * sa, a[i] * ct],
                [st, ct * ca, -ct * sa, a[i] * st],
                [0, sa, ca, d[i]],
                [0, 0, 0, 1],
            ]
        )
    return t


def test_bundled_ur5e_matches_its_dh_table():
    model = load_urdf_file(bundled_urdf_path())
    rng = np.random.default_rng(0)
    for _ in range(50):
        q = rng.uniform(-math.pi, math.pi, 6)
        np.testing.assert_allclose(model.forward_kinematics(q, 'tool0'), dh_forward(q), atol=1e-12)


def test_planar_arm_closed_form():
    model = load_urdf_string(planar_arm())
    q = np.array([0.3, -0.7, 1.1])
    angles = np.cumsum(q)
    expected = [np.sum(np.cos(angles)), np.sum(np.sin(angles)), 0.0]
    np.testing.assert_allclose(model.forward_kinematics(q, 'tip')[:3, 3], expected, atol=1e-14)


def _pinocchio(path):
    pmodel = pin.buildModelFromUrdf(path)
    return pmodel, pmodel.createData()


def _to_pinocchio_q(model, pmodel, q):
    pq = pin.neutral(pmodel)
    for name, value in zip(model.joint_names, q):
        pq[pmodel.joints[pmodel.getJointId(name)].idx_q] = value
    return pq


@pytest.mark.parametrize('robot', sorted(ARMS))
def test_forward_kinematics_and_jacobian_match_pinocchio(robot):
    relative, tip = ARMS[robot]
    path = robot_path(relative)
    model = load_urdf_file(path)
    pmodel, pdata = _pinocchio(path)
    frame = pmodel.getFrameId(tip)
    limits = JointLimits.from_model(model)
    rng = np.random.default_rng(1)
    tip_id = model.link_id(tip)
    for q in limits.sample(rng, np.zeros(model.num_dofs), 20):
        pq = _to_pinocchio_q(model, pmodel, q)
        pin.framesForwardKinematics(pmodel, pdata, pq)
        ours = model.forward_kinematics(q, tip)
        np.testing.assert_allclose(ours, pdata.oMf[frame].homogeneous, atol=1e-10)

        pj = pin.computeFrameJacobian(pmodel, pdata, pq, frame, pin.LOCAL_WORLD_ALIGNED)
        cols = [pmodel.joints[pmodel.getJointId(n)].idx_v for n in model.joint_names]
        jv, jw = point_and_angular_jacobian(model, q, tip_id, ours[:3, 3])
        np.testing.assert_allclose(jv, pj[:3, cols], atol=1e-10)
        np.testing.assert_allclose(jw, pj[3:, cols], atol=1e-10)


def point_and_angular_jacobian(model, q, link_id, point):
    """
    Jacobians (3, n) over dofs of a world point fixed to a link, and of the link's rotation.

    From the kernel: the rows of a point objective are the point's velocity, and those of
    a fixed rotation met at q are the link's angular velocity (Jl^-1(0) = I).
    """
    link = model.link_names[link_id]
    pose = model.forward_kinematics(q, link)
    local = pose[:3, :3].T @ (point - pose[:3, 3])
    _, jv = residual_and_jacobian(model, [IKObjective.point(link, local, point)], q)
    _, jw = residual_and_jacobian(model, [IKObjective.fixed_rotation(link, pose[:3, :3])], q)
    return jv, jw


def _finite_difference_check(model, link, q, local_point, eps=1e-6):
    lid = model.link_id(link)
    t = model.forward_kinematics(q, link)
    p = t[:3, :3] @ local_point + t[:3, 3]
    jv, jw = point_and_angular_jacobian(model, q, lid, p)
    for k in range(model.num_dofs):
        dq = np.zeros(model.num_dofs)
        dq[k] = eps
        tp, tm = model.forward_kinematics(q + dq, link), model.forward_kinematics(q - dq, link)
        pp = tp[:3, :3] @ local_point + tp[:3, 3]
        pm = tm[:3, :3] @ local_point + tm[:3, 3]
        np.testing.assert_allclose(jv[:, k], (pp - pm) / (2 * eps), atol=1e-7)
        dr = (tp[:3, :3] - tm[:3, :3]) / (2 * eps) @ t[:3, :3].T  # skew(w)
        np.testing.assert_allclose(jw[:, k], [dr[2, 1], dr[0, 2], dr[1, 0]], atol=1e-7)


def test_jacobian_finite_differences_with_mimic_prismatic_and_continuous():
    model = load_urdf_string(gripper_with_mimic_and_prismatic())
    assert model.joint_names == ['lift', 'shoulder', 'wrist_spin', 'finger_a_joint']
    rng = np.random.default_rng(2)
    for _ in range(10):
        q = np.array(
            [rng.uniform(0, 0.5), rng.uniform(-2, 2), rng.uniform(-6, 6), rng.uniform(0, 0.04)]
        )
        for link in ('tcp', 'finger_b', 'finger_a'):
            _finite_difference_check(model, link, q, rng.normal(size=3) * 0.1)


def test_mimic_joint_follows_its_leader():
    model = load_urdf_string(gripper_with_mimic_and_prismatic())
    q = np.array([0.2, 0.4, 0.7, 0.03])
    a = model.forward_kinematics(q, 'finger_a')
    b = model.forward_kinematics(q, 'finger_b')
    wrist = model.forward_kinematics(q, 'wrist')
    # in the wrist frame the fingers sit at y = 0.02 + 0.03 and y = -0.02 - 0.03
    np.testing.assert_allclose(np.linalg.inv(wrist) @ a[:, 3], [0, 0.05, 0.1, 1], atol=1e-12)
    np.testing.assert_allclose(np.linalg.inv(wrist) @ b[:, 3], [0, -0.05, 0.1, 1], atol=1e-12)


def test_batch_forward_kinematics_equals_one_at_a_time():
    model = load_urdf_file(robot_path(ARMS['panda'][0]))
    qs = JointLimits.from_model(model).sample(
        np.random.default_rng(3), np.zeros(model.num_dofs), 9
    )
    batch = model.forward_kinematics(qs, 'panda_hand')
    for q, t in zip(qs, batch):
        np.testing.assert_allclose(model.forward_kinematics(q, 'panda_hand'), t, atol=1e-14)


def test_reach_bound_contains_every_sampled_tip_position():
    model = load_urdf_file(robot_path(ARMS['panda'][0]))
    center, radius = model.reach_bound(model.link_id('panda_hand'), np.zeros(3))
    qs = JointLimits.from_model(model).sample(
        np.random.default_rng(4), np.zeros(model.num_dofs), 500
    )
    tips = model.forward_kinematics(qs, 'panda_hand')[:, :3, 3]
    assert np.linalg.norm(tips - center, axis=1).max() <= radius
    assert radius < 1.5  # a meaningful bound for a ~1 m arm, not infinity
