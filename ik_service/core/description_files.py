"""
Read a robot description from disk without trusting the path: bounded, never blocking.

``read_description_file`` refuses what is not a plain readable file (directories, device
files, FIFOs, anything under /proc, /sys or /dev, empty files) and reads at most
``max_bytes`` + 1 bytes. ``expand_xacro_file`` runs xacro in a child process with a
wall-clock timeout, a memory cap and a cap on the size of what it writes, so a macro that
expands without end cannot hang or bloat the caller.

Error messages name the file and the problem, never the file's contents: a peer that
points the node at ``/etc/passwd`` learns only that it is not a robot description.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tempfile
from typing import Mapping

from .errors import URDFError

# Trees whose files are not data on disk: reading them can block (/proc/kmsg), return
# endless data (/dev/zero) or read another process's memory (/proc/self/mem).
_PSEUDO_FILE_TREES = ('/proc', '/sys', '/dev')
# The child's address space: xacro on a real robot takes well under 200 MB.
_XACRO_MEMORY_BYTES = 2 * 1024 ** 3


def check_description_file(path: str, max_bytes: int) -> None:
    """
    Raise URDFError unless ``path`` names a plain file of 1 to ``max_bytes`` bytes.

    Refused: missing, a directory, not a regular file, a pseudo-file under /proc, /sys
    or /dev, empty, larger than ``max_bytes``.
    """
    if not isinstance(path, str) or not path:
        raise URDFError('robot description file: the path is empty')
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise URDFError(f'robot description file {path!r} does not exist') from None
    except OSError as e:
        raise URDFError(f'robot description file {path!r} cannot be read: {e.strerror}') from None
    if stat.S_ISDIR(info.st_mode):
        raise URDFError(f'robot description file {path!r} is a directory; name a .urdf '
                        'or .xacro file')
    real = os.path.realpath(path)
    if not stat.S_ISREG(info.st_mode) or any(
            real == tree or real.startswith(tree + '/') for tree in _PSEUDO_FILE_TREES):
        raise URDFError(f'robot description file {path!r} is not a regular file (a device, '
                        'pipe, socket or file under /proc, /sys or /dev); name a .urdf or '
                        '.xacro file')
    if info.st_size == 0:
        raise URDFError(f'robot description file {path!r} is empty')
    if info.st_size > max_bytes:
        raise URDFError(f'robot description file {path!r} has {info.st_size} bytes; the '
                        f'limit is {max_bytes} (parameter limits.max_description_bytes)')


def read_description_file(path: str, max_bytes: int) -> bytes:
    """
    Return the bytes of the file at ``path`` (at most ``max_bytes``).

    Raises URDFError saying what is wrong: what ``check_description_file`` refuses, or a
    file that cannot be read or grows past ``max_bytes`` while it is read.
    """
    check_description_file(path, max_bytes)
    try:
        # O_NONBLOCK: if the file was swapped for a FIFO since stat, open does not wait
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, 'O_CLOEXEC', 0))
    except OSError as e:
        raise URDFError(f'robot description file {path!r} cannot be read: {e.strerror}') from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise URDFError(f'robot description file {path!r} is not a regular file')
        chunks, size = [], 0
        while size <= max_bytes:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as e:
        raise URDFError(f'robot description file {path!r} cannot be read: {e.strerror}') from None
    finally:
        os.close(fd)
    if size > max_bytes:
        raise URDFError(f'robot description file {path!r} grew beyond {max_bytes} bytes '
                        'while being read')
    return b''.join(chunks)


def expand_xacro_file(path: str, args: Mapping[str, str], max_bytes: int,
                      timeout: float) -> bytes:
    """
    Expand a xacro file to URDF bytes in a child process.

    The child gets ``timeout`` seconds of wall clock, 2 GiB of address space and may
    write at most ``max_bytes`` of URDF. Of xacro's error only its last line reaches
    the message, cut to 200 characters; the expanded text is never echoed.
    """
    check_description_file(path, max_bytes)           # the same checks as a URDF file
    with tempfile.TemporaryDirectory(prefix='ik_service_xacro_') as tmp:
        out = os.path.join(tmp, 'robot.urdf')
        command = [sys.executable, '-m', 'ik_service.core.xacro_child', path, out] + \
            [f'{k}:={v}' for k, v in args.items()]
        try:
            done = subprocess.run(
                command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE, timeout=timeout, close_fds=True,
                preexec_fn=_child_limits(max_bytes), env=_child_environment())
        except subprocess.TimeoutExpired:
            raise URDFError(f'xacro did not finish expanding {path!r} within {timeout:g} s '
                            '(parameter limits.xacro_timeout)') from None
        except OSError as e:
            raise URDFError(f'xacro could not be started for {path!r}: {e.strerror}') from None
        if done.returncode != 0:
            reason = _last_line(done.stderr, done.returncode)
            raise URDFError(f'xacro failed on {path!r}: {reason}')
        return read_description_file(out, max_bytes)


def _child_limits(max_bytes: int):
    def apply() -> None:     # runs in the child between fork and exec
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (_XACRO_MEMORY_BYTES, _XACRO_MEMORY_BYTES))
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes + 1, max_bytes + 1))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return apply


def _child_environment() -> dict:
    env = dict(os.environ)
    # the package may be imported from a source checkout that is not installed
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env['PYTHONPATH'] = os.pathsep.join(p for p in (here, env.get('PYTHONPATH')) if p)
    return env


def _last_line(stderr: bytes, returncode: int) -> str:
    if returncode < 0:
        return f'killed by signal {-returncode} (memory or output size limit)'
    lines = [ln for ln in stderr.decode('utf-8', 'replace').splitlines() if ln.strip()]
    if not lines:
        return f'exit status {returncode}'
    line = lines[-1].strip()
    return line if len(line) <= 200 else line[:200] + '...'
