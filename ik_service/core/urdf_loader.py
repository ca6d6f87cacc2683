"""
Turn URDF text, a URDF file or a xacro file into a ``RobotModel``, within limits.

Parsing is tolerant of what does not matter for kinematics (Gazebo tags, transmissions,
unknown attributes) and strict about what does (links, joints, origins, axes, limits).
Floating and planar joints are treated as fixed, with a warning in ``model.warnings``.

Every description, whatever its source, is bounded before anything proportional to it
is built (``DescriptionLimits``): its bytes, its XML elements and nesting depth (counted
while streaming, so a huge document is refused before its tree exists), and its links
and joints. Every failure, whatever the cause, is a ``URDFError`` that names the problem
without echoing the description.
"""

from __future__ import annotations

from dataclasses import dataclass
import math
import xml.etree.ElementTree as ET

import numpy as np

from .description_files import expand_xacro_file, read_description_file
from .errors import MAX_MAGNITUDE, URDFError
from .model import CONTINUOUS, FIXED, JointSpec, PRISMATIC, REVOLUTE, RobotModel
from .transforms import make_transform, norm, rpy_to_matrix


@dataclass(frozen=True)
class DescriptionLimits:
    """
    The largest robot description accepted (the node sets these from ``limits.*``).

    max_bytes: URDF text, and xacro's output. max_links / max_joints: elements of the
    robot (every joint counts, fixed ones too). max_elements / max_depth: XML elements in
    all and their nesting. xacro_timeout [s]: wall clock for one xacro expansion.
    """

    max_bytes: int = 4 * 1024 * 1024
    max_links: int = 1000
    max_joints: int = 1000
    max_elements: int = 200_000
    max_depth: int = 64
    xacro_timeout: float = 10.0


DEFAULT_LIMITS = DescriptionLimits()


def load_urdf_file(path: str, xacro_args: dict | None = None,
                   limits: DescriptionLimits = DEFAULT_LIMITS) -> RobotModel:
    """Load a ``.urdf`` file, or expand and load a ``.xacro`` file (see ``description_files``)."""
    return load_urdf_string(read_description(path, xacro_args, limits), limits)


def read_description(path: str, xacro_args: dict | None = None,
                     limits: DescriptionLimits = DEFAULT_LIMITS) -> bytes:
    """Return the URDF bytes of a ``.urdf`` file, or of a ``.xacro`` file expanded."""
    if isinstance(path, str) and path.endswith('.xacro'):
        return expand_xacro(path, xacro_args or {}, limits)
    return read_description_file(path, limits.max_bytes)


def expand_xacro(path: str, args: dict, limits: DescriptionLimits = DEFAULT_LIMITS) -> bytes:
    """Expand a xacro file to URDF bytes, in a child process under ``limits``."""
    return expand_xacro_file(path, {str(k): str(v) for k, v in args.items()},
                             limits.max_bytes, limits.xacro_timeout)


def load_urdf_string(text: str | bytes, limits: DescriptionLimits = DEFAULT_LIMITS) -> RobotModel:
    """
    Parse URDF XML (text, or bytes in the encoding its XML declaration names, else UTF-8).

    Raises URDFError saying what is wrong; no other exception escapes.
    """
    try:
        return _load(text, limits)
    except URDFError:
        raise
    except (MemoryError, RecursionError) as e:
        raise URDFError(f'robot description is too large to load ({type(e).__name__})') from None
    except Exception as e:  # a parser bug must not take the caller down
        raise URDFError(f'robot description could not be loaded ({type(e).__name__})') from None


def _load(text: str | bytes, limits: DescriptionLimits) -> RobotModel:
    if not isinstance(text, (str, bytes)) or not text.strip():
        raise URDFError('robot description is empty')
    if len(text) > limits.max_bytes:
        raise URDFError(f'robot description has {len(text)} bytes; the limit is '
                        f'{limits.max_bytes} (parameter limits.max_description_bytes)')
    root = _bounded_tree(text, limits)
    if root.tag != 'robot':
        raise URDFError('robot description must have a <robot> root element')
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
    links, joints = root.findall('link'), root.findall('joint')
    for what, found, limit, name in (('links', links, limits.max_links, 'max_links'),
                                     ('joints', joints, limits.max_joints, 'max_joints')):
        if len(found) > limit:
            raise URDFError(f'robot description has {len(found)} {what}; the limit is {limit} '
                            f'(parameter limits.{name})')
    for el in links + joints:
        if not el.get('name'):
            raise URDFError(f'a <{el.tag}> has no name attribute')
    if not links:
        raise URDFError('robot description has no <link> elements')
    robot = _parse_with_urdf_parser_py(ET.tostring(root, encoding='unicode'))
    warnings: list[str] = []
    links = [link.name for link in robot.links]
    joints = [_joint_spec(j, warnings) for j in robot.joints]
    return RobotModel(robot.name or 'robot', links, joints, warnings)


def _bounded_tree(text: str | bytes, limits: DescriptionLimits) -> ET.Element:
    """Parse XML incrementally, refusing it once it has too many elements or levels."""
    parser = ET.XMLPullParser(events=('start', 'end'))
    elements = depth = 0
    root = None
    step = 1 << 16
    try:
        for at in range(0, len(text), step):
            parser.feed(text[at:at + step])
            for event, element in parser.read_events():
                if event == 'end':
                    depth -= 1
                    continue
                root = element if root is None else root
                elements += 1
                depth += 1
                if elements > limits.max_elements:
                    raise URDFError(f'robot description has more than {limits.max_elements} '
                                    'XML elements')
                if depth > limits.max_depth:
                    raise URDFError(f'robot description nests XML elements deeper than '
                                    f'{limits.max_depth} levels')
        parser.close()
    except ET.ParseError as e:
        line, column = e.position
        raise URDFError(f'robot description is not well-formed XML (line {line}, column '
                        f'{column}); is it a URDF in UTF-8 or with an XML encoding '
                        'declaration?') from None
    return root


def _parse_with_urdf_parser_py(text: str):
    from urdf_parser_py import urdf as urdf_py
    from urdf_parser_py.xml_reflection import core as reflection

    complaints: list[str] = []
    previous = reflection.on_error
    reflection.on_error = complaints.append  # unknown tags: collected, not printed
    try:
        return urdf_py.URDF.from_xml_string(text)
    except Exception as e:  # urdf_parser_py raises ParseError, AssertionError, ValueError...
        reason = str(e) if len(str(e)) <= 300 else str(e)[:300] + '...'
        raise URDFError(f'robot description is not valid URDF: {reason}') from None
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
    return JointSpec(joint_type=jtype, axis=axis / norm(axis), lower=lower,
                     upper=upper, mimic=mimic, **spec)
