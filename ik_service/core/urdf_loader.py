"""
Turn URDF text, a URDF file or a xacro file into a ``RobotModel``.

Parsing is tolerant of what does not matter for kinematics (Gazebo tags, transmissions,
unknown attributes) and strict about what does (links, joints, origins, axes, limits).
Floating and planar joints are treated as fixed, with a warning in ``model.warnings``.
"""

from __future__ import annotations

import math
import os
import xml.etree.ElementTree as ET

import numpy as np

from .errors import MAX_MAGNITUDE, URDFError
from .model import CONTINUOUS, FIXED, JointSpec, PRISMATIC, REVOLUTE, RobotModel
from .transforms import make_transform, rpy_to_matrix

_MAX_URDF_BYTES = 50 * 1024 * 1024


def load_urdf_file(path: str, xacro_args: dict | None = None) -> RobotModel:
    """Load a ``.urdf`` file, or expand and load a ``.xacro`` file."""
    if not os.path.isfile(path):
        raise URDFError(f'robot description file {path!r} does not exist')
    if path.endswith('.xacro'):
        return load_urdf_string(expand_xacro(path, xacro_args or {}))
    with open(path, encoding='utf-8') as f:
        return load_urdf_string(f.read())


def expand_xacro(path: str, args: dict) -> str:
    """Expand a xacro file to URDF text (PyPI ``xacro``)."""
    try:
        import xacro
    except ImportError as e:  # pragma: no cover - xacro is a declared dependency
        raise URDFError('expanding .xacro needs the xacro package (pip install xacro)') from e
    try:
        doc = xacro.process_file(path, mappings={str(k): str(v) for k, v in args.items()})
        return doc.toxml()
    except Exception as e:  # xacro raises many types
        raise URDFError(f'xacro failed on {path!r}: {e}') from e


def load_urdf_string(text: str) -> RobotModel:
    """Parse URDF XML text into a model. Raises URDFError saying what is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise URDFError('robot description is empty')
    if len(text) > _MAX_URDF_BYTES:
        raise URDFError(f'robot description is {len(text)} bytes; the limit is {_MAX_URDF_BYTES}')
    try:
        root = ET.fromstring(text)
    except ET.ParseError as e:
        raise URDFError(f'robot description is not well-formed XML: {e}') from None
    if root.tag != 'robot':
        raise URDFError(f'robot description must have a <robot> root element, not <{root.tag}>')
    if any('wiki/xacro}' in el.tag for el in root.iter()):
        raise URDFError(
            'robot description contains xacro elements; expand it first (pass the '
            '.xacro path as robot_description_file, or run xacro)'
        )
    # Transmissions and Gazebo extras do not affect kinematics, and a non-standard
    # transmission makes urdf_parser_py reject the whole file.
    for tag in ('transmission', 'gazebo'):
        for el in root.findall(tag):
            root.remove(el)
    for el in root.findall('link') + root.findall('joint'):
        if not el.get('name'):
            raise URDFError(f'a <{el.tag}> has no name attribute')
    if not root.findall('link'):
        raise URDFError(f'robot {root.get("name", "")!r} has no <link> elements')
    robot = _parse_with_urdf_parser_py(ET.tostring(root, encoding='unicode'))
    warnings: list[str] = []
    links = [link.name for link in robot.links]
    joints = [_joint_spec(j, warnings) for j in robot.joints]
    return RobotModel(robot.name or 'robot', links, joints, warnings)


def _parse_with_urdf_parser_py(text: str):
    from urdf_parser_py import urdf as urdf_py
    from urdf_parser_py.xml_reflection import core as reflection

    complaints: list[str] = []
    previous = reflection.on_error
    reflection.on_error = complaints.append  # unknown tags: collected, not printed
    try:
        return urdf_py.URDF.from_xml_string(text)
    except Exception as e:  # urdf_parser_py raises ParseError, AssertionError, ValueError...
        raise URDFError(f'robot description is not valid URDF: {e}') from None
    finally:
        reflection.on_error = previous


def _vector(values, default, where: str, what: str, bounded: bool = True) -> np.ndarray:
    vals = np.array(default if values is None else values, dtype=float)
    if vals.shape != (3,) or not np.all(np.isfinite(vals)):
        raise URDFError(f'{where}: {what} must be 3 finite numbers, got {values}')
    if bounded and np.abs(vals).max() > MAX_MAGNITUDE:
        raise URDFError(f'{where}: {what} {values} is beyond +-{MAX_MAGNITUDE:g}')
    return vals


def _limit_value(value, where: str, what: str, side: float) -> float:
    """
    Read a joint limit [rad or m]; ``side`` is -1 for the lower limit, +1 for the upper.

    Beyond +-MAX_MAGNITUDE on its own side a limit means unbounded (-inf or inf); on the
    other side (a lower limit above +1e6) it is refused.
    """
    v = float(value)
    if math.isnan(v):
        raise URDFError(f'{where}: {what} is NaN')
    if abs(v) <= MAX_MAGNITUDE:
        return v
    if v * side > 0:
        return side * math.inf
    raise URDFError(f'{where}: {what} {v} is beyond +-{MAX_MAGNITUDE:g}')


def _joint_spec(joint, warnings: list[str]) -> JointSpec:
    where = f'joint {joint.name!r}'
    jtype = joint.type
    if joint.parent is None or joint.child is None:
        raise URDFError(f'{where} needs both <parent link=.../> and <child link=.../>')
    origin = joint.origin
    xyz = _vector(origin.xyz if origin is not None else None, [0, 0, 0], where, 'origin xyz')
    rpy = _vector(origin.rpy if origin is not None else None, [0, 0, 0], where, 'origin rpy')
    spec = {'name': joint.name, 'parent': joint.parent, 'child': joint.child,
            'origin': make_transform(rpy_to_matrix(rpy), xyz)}
    if jtype in ('floating', 'planar'):
        warnings.append(f'{where} is {jtype}; it is treated as fixed')
        jtype = FIXED
    if jtype not in (REVOLUTE, CONTINUOUS, PRISMATIC, FIXED):
        raise URDFError(
            f'{where} has unknown type {jtype!r} (expected revolute, continuous, '
            'prismatic, fixed, floating or planar)'
        )
    if jtype == FIXED:
        return JointSpec(joint_type=FIXED, **spec)
    axis = _vector(joint.axis, [1, 0, 0], where, 'axis', bounded=False)   # a direction
    scale = float(np.abs(axis).max())
    if scale < 1e-9:
        raise URDFError(f'{where} has a zero-length axis')
    axis = axis / scale            # scaled first, so a huge axis does not overflow the norm
    lower, upper = -np.inf, np.inf
    if jtype in (REVOLUTE, PRISMATIC):
        if joint.limit is None:
            if jtype == PRISMATIC:
                raise URDFError(f'{where} is prismatic but has no <limit>')
            warnings.append(f'{where} is revolute without <limit>; treated as unbounded')
        else:
            lower = _limit_value(joint.limit.lower or 0.0, where, 'lower limit', -1.0)
            upper = _limit_value(joint.limit.upper or 0.0, where, 'upper limit', 1.0)
            if lower > upper:
                raise URDFError(f'{where} has lower limit {lower} above upper limit {upper}')
    mimic = None
    if joint.mimic is not None:
        if not joint.mimic.joint:
            raise URDFError(f'{where} has a <mimic> without joint="..."')
        mult = 1.0 if joint.mimic.multiplier is None else float(joint.mimic.multiplier)
        off = 0.0 if joint.mimic.offset is None else float(joint.mimic.offset)
        if not (abs(mult) <= MAX_MAGNITUDE and abs(off) <= MAX_MAGNITUDE):
            raise URDFError(f'{where}: mimic multiplier and offset must be finite, '
                            f'within +-{MAX_MAGNITUDE:g}')
        mimic = (joint.mimic.joint, mult, off)
    return JointSpec(joint_type=jtype, axis=axis / np.linalg.norm(axis), lower=lower,
                     upper=upper, mimic=mimic, **spec)
