"""Property-based robot descriptions: a model or a URDFError, never anything else.

Random kinematic trees (random joint types, axes, limits, origins and mimics, NaN and
inf included), then text mutations: truncation, deleted and duplicated lines, renamed
links (which make cycles, missing parents and duplicates). Every model that loads must
behave: finite forward kinematics inside its limits, and a solve that either answers or
raises one of the core's own errors.
"""
import math

from hypothesis import given, HealthCheck, settings
from hypothesis import strategies as st
from ik_service.core import (
    DescriptionLimits,
    IKError,
    IKObjective,
    JointLimits,
    load_urdf_string,
    solve,
    SolverSettings,
    URDFError,
)
import numpy as np
import pytest

EXAMPLES = 1000

finite = st.one_of(st.floats(-3.0, 3.0), st.sampled_from([0.0, 1.0, -1.0, math.pi]))
# mostly finite numbers and known joint types, so that many descriptions load and the
# models themselves get exercised; NaN, inf and unknown types still come up often
numbers = st.one_of(finite, finite, finite, finite, st.floats(allow_nan=True, allow_infinity=True))
JOINT_TYPES = ['revolute', 'continuous', 'prismatic', 'fixed']
jtypes = st.one_of(st.sampled_from(JOINT_TYPES), st.sampled_from(JOINT_TYPES),
                   st.sampled_from(JOINT_TYPES + ['floating', 'planar', 'helical', '']))


@st.composite
def robot_text(draw):
    n = draw(st.integers(1, 7))
    parts = ['<robot name="fuzz">'] + [f'<link name="l{i}"/>' for i in range(n)]
    for i in range(1, n):
        parent = draw(st.integers(0, i - 1))
        jtype = draw(jtypes)
        # one joint in four draws its numbers from every float (NaN, inf, huge): with
        # those in every joint, almost no description would load and models would go
        # untested
        values = numbers if draw(st.integers(0, 3)) == 0 else finite
        xyz = ' '.join(str(draw(values)) for _ in range(3))
        rpy = ' '.join(str(draw(values)) for _ in range(3))
        axis = ' '.join(str(draw(values)) for _ in range(3))
        limit = ''
        if draw(st.integers(0, 4)):          # mostly a limit, mostly ordered
            lower, upper = draw(values), draw(values)
            if draw(st.integers(0, 4)) and lower > upper:
                lower, upper = upper, lower
            limit = f'<limit lower="{lower}" upper="{upper}" effort="1" velocity="1"/>'
        mimic = ''
        if i > 1 and draw(st.integers(0, 5)) == 0:
            mimic = f'<mimic joint="j{draw(st.integers(1, n))}" multiplier="{draw(values)}"/>'
        parts.append(f'<joint name="j{i}" type="{jtype}"><parent link="l{parent}"/>'
                     f'<child link="l{i}"/><origin xyz="{xyz}" rpy="{rpy}"/>'
                     f'<axis xyz="{axis}"/>{limit}{mimic}</joint>')
    parts.append('</robot>')
    text = '\n'.join(parts)
    for _ in range(draw(st.one_of(st.just(0), st.just(0), st.integers(1, 3)))):
        lines = text.split('\n')
        op = draw(st.sampled_from(['truncate', 'delete', 'duplicate', 'rename', 'none']))
        if op == 'truncate':
            text = text[:draw(st.integers(0, len(text)))]
        elif op == 'delete':
            del lines[draw(st.integers(0, len(lines) - 1))]
            text = '\n'.join(lines)
        elif op == 'duplicate':
            k = draw(st.integers(0, len(lines) - 1))
            text = '\n'.join(lines[:k + 1] + [lines[k]] + lines[k + 1:])
        elif op == 'rename':
            a, b = draw(st.integers(0, n)), draw(st.integers(0, n))
            text = text.replace(f'"l{a}"', f'"l{b}"', draw(st.integers(1, 3)))
    return text


def test_any_description_gives_a_model_or_a_urdf_error():
    tried = {'urdf': 0, 'loaded': 0, 'solved': 0}

    @settings(max_examples=EXAMPLES, deadline=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(robot_text(), st.integers(0, 2**31 - 1))
    def check(text, random_seed):
        tried['urdf'] += 1
        try:
            model = load_urdf_string(text)
        except URDFError as e:
            assert str(e), 'a URDFError must say what is wrong'
            return
        tried['loaded'] += 1
        limits = JointLimits.from_model(model)
        assert np.all(limits.lower <= limits.upper)
        q = limits.clip(np.zeros(model.num_dofs))
        for link in model.link_names:
            assert np.all(np.isfinite(model.forward_kinematics(q, link)))
        tip = model.link_names[-1]
        # a point the tip reaches at a random configuration within the limits
        goal_q = limits.sample(np.random.default_rng(random_seed), q, 1)[0]
        target = model.forward_kinematics(goal_q, tip)[:3, 3]
        try:
            result = solve(model, [IKObjective.point(tip, [0, 0, 0], target)], q,
                           mode='global', random_seed=random_seed,
                           settings=SolverSettings(timeout=0.005, max_iterations=20))
        except IKError:
            return
        if result.success:   # a success must be real: check it by forward kinematics
            reached = model.forward_kinematics(result.q, tip)[:3, 3]
            assert np.linalg.norm(reached - target) <= 1e-5
            assert limits.contains(result.q)
            tried['solved'] += 1

    check()
    print(f"\nURDF fuzz: {tried['urdf']} descriptions tried, {tried['loaded']} loaded as "
          f"models, {tried['solved']} solves succeeded (each checked by FK)")
    # the generator must exercise every branch: refusals, models, and real solves
    assert tried['urdf'] >= EXAMPLES // 2
    assert tried['urdf'] // 20 <= tried['loaded'] <= tried['urdf'] - tried['urdf'] // 20
    assert tried['solved'] >= 10


def test_a_long_chain_of_1000_links_loads_and_solves():
    text = '<robot name="long"><link name="l0"/>' + ''.join(
        f'<link name="l{i}"/><joint name="j{i}" type="revolute"><parent link="l{i - 1}"/>'
        f'<child link="l{i}"/><origin xyz="0.001 0 0"/><axis xyz="0 0 1"/>'
        f'<limit lower="-1" upper="1" effort="1" velocity="1"/></joint>' for i in range(1, 1001)
    ) + '</robot>'
    assert 'limits.max_links' in str(pytest.raises(URDFError, load_urdf_string, text).value)
    model = load_urdf_string(text, DescriptionLimits(max_links=1001))
    assert model.num_dofs == 1000
    assert model.forward_kinematics(np.zeros(1000), 'l1000')[0, 3] == pytest.approx(1.0)
    # the last five joints move the tip of the 1000-joint chain to a reachable point
    goal = np.zeros(1000)
    goal[-5:] = [0.3, -0.2, 0.4, 0.1, -0.3]
    target = model.forward_kinematics(goal, 'l1000')[:3, 3]
    result = solve(model, [IKObjective.point('l1000', [0, 0, 0], target)], np.zeros(1000),
                   active_joints=[f'j{i}' for i in range(996, 1001)], mode='local')
    assert result.success
    assert np.linalg.norm(model.forward_kinematics(result.q, 'l1000')[:3, 3] - target) < 1e-5
