"""Robot descriptions from untrusted paths and text: refused with a reason, never a hang."""

import os
import time

from ik_service.core import DescriptionLimits, load_urdf_file, load_urdf_string, URDFError
from ik_service.core.description_files import read_description_file
import pytest
from robots import planar_arm

SECRET = 'SECRET-CONTENT-4711'


def _refused(load, *args, **kwargs) -> str:
    with pytest.raises(URDFError) as e:
        load(*args, **kwargs)
    return str(e.value)


@pytest.mark.parametrize('path, words', [
    ('/proc/self/mem', 'not a regular file'),
    ('/proc/kmsg', 'not a regular file'),
    ('/dev/zero', 'not a regular file'),
    ('/dev/null', 'not a regular file'),
    ('/', 'is a directory'),
    ('/no/such/robot.urdf', 'does not exist'),
])
def test_paths_that_are_not_description_files_are_refused_at_once(path, words):
    started = time.monotonic()
    assert words in _refused(load_urdf_file, path)
    assert time.monotonic() - started < 5.0       # /proc/kmsg would block for ever


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    fifo = tmp_path / 'robot.urdf'
    os.mkfifo(fifo)
    assert 'not a regular file' in _refused(load_urdf_file, str(fifo))


def test_empty_and_oversized_files_are_refused(tmp_path):
    empty = tmp_path / 'empty.urdf'
    empty.write_bytes(b'')
    assert 'is empty' in _refused(load_urdf_file, str(empty))
    big = tmp_path / 'big.urdf'
    big.write_text(planar_arm() + ' ' * 5000)
    message = _refused(load_urdf_file, str(big), limits=DescriptionLimits(max_bytes=4096))
    assert 'limits.max_description_bytes' in message
    assert read_description_file(str(big), 10 ** 6).startswith(b'<')


def test_encodings_follow_the_xml_declaration(tmp_path):
    declared = tmp_path / 'declared.urdf'
    declared.write_bytes(planar_arm().replace('name="planar"', 'name="pl\xe4nar"', 1)
                         .encode('latin-1').replace(b'<robot', b'<?xml version="1.0" '
                                                    b'encoding="ISO-8859-1"?>\n<robot', 1))
    assert load_urdf_file(str(declared)).name == 'pl\xe4nar'
    undeclared = tmp_path / 'undeclared.urdf'
    undeclared.write_bytes(planar_arm().replace('name="planar"', 'name="pl\xe4nar"', 1)
                           .encode('latin-1'))
    assert 'not well-formed XML' in _refused(load_urdf_file, str(undeclared))


def test_errors_name_the_problem_without_echoing_the_file(tmp_path):
    for text in (f'root:x:0:0:{SECRET}:/root:/bin/bash\n', f'<{SECRET}/>',
                 f'<robot name="r"><link name="a"/><{SECRET}>'):
        path = tmp_path / 'not_a_robot.urdf'
        path.write_text(text)
        assert SECRET not in _refused(load_urdf_file, str(path))


def test_model_size_is_bounded_before_it_is_built():
    chain = ''.join(
        f'<link name="l{i + 1}"/><joint name="j{i}" type="revolute"><parent link="l{i}"/>'
        f'<child link="l{i + 1}"/><axis xyz="0 0 1"/>'
        '<limit lower="-1" upper="1" effort="1" velocity="1"/></joint>' for i in range(60))
    text = f'<robot name="long"><link name="l0"/>{chain}</robot>'
    assert load_urdf_string(text).num_dofs == 60
    assert 'limits.max_joints' in _refused(load_urdf_string, text,
                                           DescriptionLimits(max_joints=50))
    assert 'limits.max_links' in _refused(load_urdf_string, text,
                                          DescriptionLimits(max_links=50))
    nested = '<robot name="deep">' + '<a>' * 100 + '</a>' * 100 + '</robot>'
    assert 'deeper than 64' in _refused(load_urdf_string, nested)
    wide = '<robot name="wide">' + '<a/>' * 2000 + '</robot>'
    assert 'more than 1000 XML elements' in _refused(
        load_urdf_string, wide, DescriptionLimits(max_elements=1000))


def test_a_xacro_file_is_expanded_in_a_child_process(tmp_path):
    path = tmp_path / 'arm.urdf.xacro'
    path.write_text('<robot name="x" xmlns:xacro="http://www.ros.org/wiki/xacro">'
                    '<xacro:arg name="side" default="left"/>'
                    '<link name="$(arg side)_base"/></robot>')
    assert load_urdf_file(str(path)).root_link == 'left_base'
    assert load_urdf_file(str(path), {'side': 'right'}).root_link == 'right_base'
    bad = tmp_path / 'bad.xacro'
    bad.write_text('<robot name="x" xmlns:xacro="http://www.ros.org/wiki/xacro">'
                   '<link name="${undefined_name}"/></robot>')
    assert 'undefined_name' in _refused(load_urdf_file, str(bad))


def test_a_xacro_macro_that_never_ends_is_stopped_by_its_timeout(tmp_path):
    macros = ''.join(f'<xacro:macro name="m{i + 1}"><xacro:m{i}/><xacro:m{i}/></xacro:macro>'
                     for i in range(40))
    bomb = tmp_path / 'bomb.xacro'
    bomb.write_text('<robot name="b" xmlns:xacro="http://www.ros.org/wiki/xacro">'
                    f'<xacro:macro name="m0"><link name="x"/></xacro:macro>{macros}'
                    '<xacro:m40/></robot>')
    started = time.monotonic()
    message = _refused(load_urdf_file, str(bomb), limits=DescriptionLimits(xacro_timeout=1.0))
    assert 'limits.xacro_timeout' in message
    assert time.monotonic() - started < 10.0
