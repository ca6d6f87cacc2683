"""Paths: continuity, rejoining after an unreachable stretch, determinism."""

from ik_service.core import IKObjective, JointLimits, load_urdf_file, solve
from ik_service.core import solve_path, SolverSettings
from ik_service.core.paths import solve_near
import numpy as np
import pytest
from robots import ARMS, robot_path
from scipy.spatial.transform import Rotation

UR5 = load_urdf_file(robot_path(ARMS['ur5'][0]))
PANDA = load_urdf_file(robot_path(ARMS['panda'][0]))
XARM7 = load_urdf_file(robot_path('xarm_description/urdf/xarm7.urdf'))
START = np.array([0.3, -1.2, 1.4, -1.6, -1.5, 0.2])


def _poses_along(model, link, start_q, offsets, turns=None):
    """Pose objectives: the link's pose at start_q moved by offsets (W, 3) [m], turned."""
    pose = model.forward_kinematics(start_q, link)
    out = []
    for k, offset in enumerate(offsets):
        rotation = pose[:3, :3] if turns is None else \
            pose[:3, :3] @ Rotation.from_rotvec(turns[k]).as_matrix()
        out.append([IKObjective.fixed_pose(link, rotation, pose[:3, 3] + offset)])
    return out


def _reached(model, link, q, objectives):
    pose = model.forward_kinematics(q, link)
    goal = objectives[0]
    return (np.linalg.norm(pose[:3, 3] - goal.target_points[0]),
            Rotation.from_matrix(pose[:3, :3].T @ goal.target_rotation).magnitude())


def test_a_circle_is_followed_continuously_and_checked_by_forward_kinematics():
    angles = np.linspace(0, 2 * np.pi, 200)
    circle = 0.1 * np.stack([np.cos(angles) - 1, np.sin(angles), 0 * angles], axis=1)
    waypoints = _poses_along(UR5, 'tool0', START, circle)
    path = solve_path(UR5, waypoints, START, max_step=0.1)
    assert path.all_succeeded
    for q, objectives in zip(path.q, waypoints):
        position, rotation = _reached(UR5, 'tool0', q, objectives)
        assert position < 1e-5 and rotation < 1e-5
    assert path.step.max() <= 0.1 + 1e-12
    # back where it started: the same configuration, no branch change on the way
    np.testing.assert_allclose(path.q[-1], START, atol=1e-4)


def test_an_unreachable_stretch_stays_continuous_and_the_path_rejoins():
    # a line out 1.5 m beyond the workspace boundary and back
    out = np.concatenate([np.linspace(0, 1.5, 60), np.linspace(1.5, 0, 60)])
    line = np.stack([-out, 0 * out, 0 * out], axis=1)
    waypoints = _poses_along(UR5, 'tool0', START, line)
    path = solve_path(UR5, waypoints, START)
    assert not path.all_succeeded
    assert path.success[:5].all() and path.success[-5:].all()      # rejoined
    assert path.step.max() <= 0.5 + 1e-12                           # never jumped
    # every failed waypoint is one that global mode, with many starts, cannot solve either
    for objectives, ok in zip(waypoints, path.success):
        if not ok:
            assert not solve(UR5, objectives, START, mode='global', random_seed=1).success


def test_the_same_path_twice_gives_identical_answers():
    rng = np.random.default_rng(4)
    offsets = np.cumsum(rng.normal(0, 0.004, (80, 3)), axis=0)
    waypoints = _poses_along(UR5, 'tool0', START, offsets)
    first = solve_path(UR5, waypoints, START)
    second = solve_path(UR5, waypoints, START)
    assert np.array_equal(first.q, second.q)


def test_a_joint_limit_on_the_way_does_not_stop_a_panda_line():
    q0 = np.zeros(PANDA.num_dofs)
    q0[:7] = [0.0, -0.2274, 0.0, -3.0, 0.0, 2.9444, 0.785]     # joint 4 near its lower limit
    line = np.stack([np.linspace(0, 0.15, 100), 0 * np.zeros(100), np.zeros(100)], axis=1)
    waypoints = _poses_along(PANDA, 'panda_hand', q0, line)
    path = solve_path(PANDA, waypoints, q0, max_step=0.2)
    assert path.all_succeeded, path.max_error.max()


def test_densification_carries_the_configuration_across_a_large_jump():
    # two waypoints a half turn about the tool axis apart: interpolated targets keep the
    # step of each small; without them the box of 0.3 rad cannot reach the second
    turn = [np.zeros(3), np.array([0.0, 0.0, 3.0])]
    waypoints = _poses_along(UR5, 'tool0', START, np.zeros((2, 3)), turn)
    direct = solve_path(UR5, waypoints, START, max_step=0.3)
    assert not direct.success[1]
    dense = solve_path(UR5, waypoints, START, max_step=0.3, max_cartesian_step=0.05)
    assert dense.all_succeeded
    position, rotation = _reached(UR5, 'tool0', dense.q[1], waypoints[1])
    assert position < 1e-5 and rotation < 1e-5


def test_a_branch_change_happens_only_when_allowed():
    # a pose of another branch (shoulder turned half a turn): the box cannot get there
    far = START + np.array([np.pi, 0, 0, 0, 0, 0])
    target = UR5.forward_kinematics(far, 'tool0')
    waypoints = [[IKObjective.fixed_pose('tool0', target[:3, :3], target[:3, 3])]]
    kept = solve_path(UR5, waypoints, START, max_step=0.5)
    assert not kept.success[0] and kept.step[0] <= 0.5 + 1e-12
    allowed = solve_path(UR5, waypoints, START, max_step=0.5, allow_branch_change=True)
    assert allowed.success[0] and allowed.step[0] > 0.5


@pytest.mark.parametrize('bad', [0.0, -1.0, np.nan, [0.1] * 5])
def test_bad_steps_are_refused(bad):
    from ik_service.core import InvalidSettingsError
    with pytest.raises((InvalidSettingsError, ValueError)):
        solve_path(UR5, [], START, max_step=bad)


def test_an_arm_stretched_out_of_reach_and_back_returns_the_way_it_left():
    # xArm7 (7 joints): a line 1 m out through the workspace boundary and back. Following
    # the targets out of reach turns the arm about its shoulder-wrist line, and it came
    # back 2.1 rad from where it left (on a 1000-waypoint line, into the elbow's limit);
    # held at the last waypoint it met, it returns the way it left (within 0.07 rad: its
    # answers to the last waypoints may differ in the 7-joint arm's null space)
    start = np.array([-0.947, -0.832, 0.252, 1.139, 0.54, -0.002, 1.389])
    pose = XARM7.forward_kinematics(start, 'link_eef')
    out = pose[:3, 3] / np.linalg.norm(pose[:3, 3])
    s = np.linspace(0, 1, 400)
    waypoints = [[IKObjective.fixed_pose('link_eef', pose[:3, :3], pose[:3, 3] + t * out)]
                 for t in np.minimum(s, 1 - s) * 2]
    path = solve_path(XARM7, waypoints, start)
    assert path.success[:20].all() and not path.success[200]       # out of reach midway
    assert path.success[-1] and np.abs(path.q[-1] - start).max() < 0.1
    assert path.step.max() <= 0.5 + 1e-12


def test_a_stretch_solved_again_is_kept_until_it_meets_the_first_answers():
    # Panda (7 joints): a line 1 m out through the boundary and back. Following the targets
    # out of reach turned the arm about its shoulder-wrist line; solved again holding, the
    # answers came back the way they left, but were spliced into the first ones at the
    # first waypoint met, where those were merely within one step: the arm ended 0.45 rad
    # from its start, on a longer way. Spliced where the two walks' answers agree, it
    # comes back to where it started
    arm = [f'panda_joint{i}' for i in range(1, 8)]
    idx = [PANDA.joint_id(j) for j in arm]
    start = np.zeros(PANDA.num_dofs)
    start[idx] = [-0.31737338905386125, 0.5251978544118284, -0.3462987086350986,
                  -1.2506999459491974, 0.3259978340081582, 2.2586277973523154,
                  1.424534952135696]
    pose = PANDA.forward_kinematics(start, 'panda_hand')
    out = pose[:3, 3] / np.linalg.norm(pose[:3, 3])
    s = np.linspace(0, 1, 400)
    waypoints = [[IKObjective.fixed_pose('panda_hand', pose[:3, :3], pose[:3, 3] + t * out)]
                 for t in np.minimum(s, 1 - s) * 2]
    path = solve_path(PANDA, waypoints, start, active_joints=arm)
    assert path.success[:5].all() and not path.success[200] and path.success[-5:].all()
    assert np.abs(path.q[-1] - start).max() < 0.01
    steps = np.linalg.norm(np.diff(np.vstack([start, path.q]), axis=0), axis=1)
    way_out = steps[:int(np.argmin(path.success)) + 1].sum()
    assert steps.sum() <= 2 * way_out * 1.05 and path.step.max() <= 0.5 + 1e-12


def test_a_bias_never_costs_a_waypoint():
    # Panda near a singular configuration (a 10 cm circle): held toward q by the bias, the
    # descent from q stops 3.6e-4 short of the target; the solution lies inside the box
    q = np.array([-0.42077869982653676, 0.37170695104260837, -0.8121243366774165,
                  -0.4477988397617746, 0.7726460345131054, 0.805786118573552,
                  -0.18498950341476297, 0.0])
    target = np.array([[0.9142492110850704, 0.34084562270006025, 0.2190265771922084],
                       [0.31370248510209786, -0.9376451015361627, 0.1497077633458178],
                       [0.2563964330311449, -0.06816102296362227, -0.9641654132343983]])
    objectives = [IKObjective.fixed_pose('panda_hand', target,
                                         [0.37533124865492495, -0.3015339038971639,
                                          0.8447848671129582])]
    limits = JointLimits.from_model(PANDA)
    result = solve_near(PANDA, objectives, q, np.full(PANDA.num_dofs, 0.5),
                        SolverSettings(max_restarts=16), limits)
    assert result.success
    assert np.abs(result.q - q).max() <= 0.5 + 1e-12


def test_a_target_that_is_held_when_missed_is_not_searched_where_nothing_can_meet_it():
    # a stream holds its last command on a miss: where the closed form has no exact
    # solution inside the box (a pose 1 rad of shoulder pan away) or the target is out of
    # reach, no restarts look for the closest configuration; the miss is the same
    limits = JointLimits.from_model(UR5)
    settings = SolverSettings(max_restarts=16)
    goal = UR5.forward_kinematics(START + np.array([1.0, 0, 0, 0, 0, 0]), 'tool0')
    far = UR5.forward_kinematics(START, 'tool0')
    far[:3, 3] *= 3.0
    for pose in (goal, far):
        objectives = [IKObjective.fixed_pose('tool0', pose[:3, :3], pose[:3, 3])]
        asked = {'searched': 0, 'held': 0}       # cancel is asked as the solves go on

        def counting(name):
            def cancel():
                asked[name] += 1
                return False
            return cancel
        searched = solve_near(UR5, objectives, START, 0.1, settings, limits,
                              cancel=counting('searched'))
        held = solve_near(UR5, objectives, START, 0.1, settings, limits,
                          cancel=counting('held'), closest_if_missed=False)
        assert not searched.success and not held.success
        assert held.restarts == 0 and asked['held'] < asked['searched']
        assert held.max_error >= searched.max_error
    # a target inside the box is met either way, with the same answer
    near = UR5.forward_kinematics(START + 0.05, 'tool0')
    objectives = [IKObjective.fixed_pose('tool0', near[:3, :3], near[:3, 3])]
    met = [solve_near(UR5, objectives, START, 0.1, settings, limits, closest_if_missed=c)
           for c in (True, False)]
    assert met[0].success and met[1].success and np.array_equal(met[0].q, met[1].q)


def test_a_descent_whose_iterations_run_out_goes_on_before_other_starts():
    # Tiago's arm, a waypoint of a 10 cm circle at the edge of the workspace
    # (bench/path_bench.py): the solution lies 0.37 rad away along a nearly singular
    # direction, and the descent from the previous answer ends its 100 iterations 1.2e-5
    # short, still improving. None of the 16 other starts in the box meets it; going on
    # from where the descent stopped does, in a few iterations.
    tiago = load_urdf_file(robot_path('tiago_description/robots/tiago.urdf'))
    arm = [f'arm_{i}_joint' for i in range(1, 8)]
    q = np.zeros(tiago.num_dofs)
    q[[tiago.joint_id(j) for j in arm]] = [
        1.5032564860981252, -1.187157304548604, -0.0028387019675710093, 0.19674820366263393,
        0.6861782738230546, -0.8516734123290132, -1.2724413529190821]
    position = np.array([0.3938362569191342, 0.00884843318168195, 0.10671662899634368])
    rotation = np.array([[-0.5105990969004147, 0.7683494955251791, -0.38591140818934505],
                         [0.79350658561206, 0.24824819509168478, -0.5556258923268526],
                         [-0.3311130635217692, -0.5899253226976473, -0.736445688971906]])
    objectives = [IKObjective.fixed_pose('arm_7_link', rotation, position)]
    result = solve_near(tiago, objectives, q, 0.5, SolverSettings(max_restarts=16),
                        JointLimits.from_model(tiago), active_joints=arm)
    assert result.success
    assert np.abs(result.q - q).max() <= 0.5 + 1e-12
    distance, angle = _reached(tiago, 'arm_7_link', result.q, objectives)
    assert distance <= 1e-5 and angle <= 1e-5


def test_a_miss_does_not_turn_the_arm_about_itself_for_a_negligible_gain():
    # PR2's right arm with its elbow straight (at its limit): the upper arm roll and the
    # forearm roll turn about one line, so turning one against the other moves nothing.
    # A target 5 cm beyond the tool, straight out, cannot be met; the closest
    # configuration is where the arm already points. Answers found from other starts
    # come out anywhere along that turn and were taken for errors smaller by far less
    # than the tolerance (up to 0.11 rad of joint motion for nothing, on a path a turn
    # at every missed waypoint); the answer keeps the previous configuration's turn.
    pr2 = load_urdf_file(robot_path('pr2_description/urdf/pr2.urdf'))
    arm = ['r_shoulder_pan_joint', 'r_shoulder_lift_joint', 'r_upper_arm_roll_joint',
           'r_elbow_flex_joint', 'r_forearm_roll_joint', 'r_wrist_flex_joint',
           'r_wrist_roll_joint']
    ids = [pr2.joint_id(j) for j in arm]
    rng = np.random.default_rng(1)
    limits = JointLimits.from_model(pr2)
    for _ in range(20):
        q = np.zeros(pr2.num_dofs)
        q[ids] = [rng.uniform(-0.5, 0.5), rng.uniform(-0.3, 0.5), rng.uniform(-1, 0), 0.0,
                  rng.uniform(-1, 1), rng.uniform(-1, -0.2), rng.uniform(-1, 1)]
        pose = pr2.forward_kinematics(q, 'r_wrist_roll_link')
        out = pose[:3, 3] - pr2.forward_kinematics(q, 'r_shoulder_pan_link')[:3, 3]
        goal = pose[:3, 3] + 0.05 * out / np.linalg.norm(out)
        result = solve_near(pr2, [IKObjective.fixed_pose('r_wrist_roll_link', pose[:3, :3],
                                                         goal)],
                            q, 0.5, SolverSettings(max_restarts=16), limits, active_joints=arm)
        assert not result.success
        assert np.abs(result.q - q).max() < 0.01
