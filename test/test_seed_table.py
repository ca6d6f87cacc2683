"""The seed table's ranking against scores computed by forward kinematics, one pose at a time."""
from ik_service.core import IKObjective, load_urdf_file
from ik_service.core.objectives import ObjectiveSet
from ik_service.core.seed_table import ROTATION_WEIGHT, SeedTable
import numpy as np
import pytest
from robots import ARMS, robot_path
from scipy.spatial.transform import Rotation


def _scores_by_fk(model, table, objective):
    """Squared point distance [m^2] plus ROTATION_WEIGHT (3 - trace(R_t^T R)) per entry."""
    poses = model.forward_kinematics(table.q, objective.link)
    points = poses[:, :3, :3] @ objective.local_points[0] + poses[:, :3, 3]
    distance_sq = np.sum((points - objective.target_points[0]) ** 2, axis=1)
    traces = np.einsum('ij,bij->b', objective.target_rotation, poses[:, :3, :3])
    return distance_sq + ROTATION_WEIGHT * (3.0 - traces)


@pytest.mark.parametrize('local_point', [(0.0, 0.0, 0.0), (0.05, -0.02, 0.1)])
def test_ranking_is_the_order_of_the_true_distances(local_point):
    path, tip = ARMS['panda']
    model = load_urdf_file(robot_path(path))
    rotation = Rotation.from_rotvec([0.3, -1.2, 0.5]).as_matrix()
    objective = IKObjective.fixed_pose(tip, rotation, [0.4, 0.1, 0.5], local_point=local_point)
    table = SeedTable.of(model)
    ranked = table.ranked(ObjectiveSet(model, [objective]), 32)
    scores = _scores_by_fk(model, table, objective)
    assert len(ranked) == 32
    np.testing.assert_allclose(scores[ranked], np.sort(scores)[:32], rtol=1e-9, atol=1e-12)
