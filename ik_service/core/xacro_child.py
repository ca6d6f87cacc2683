"""
Expand one xacro file in a child process: ``python -m ik_service.core.xacro_child IN OUT [k:=v]``.

``description_files.expand_xacro_file`` runs this under a timeout and resource limits;
it writes the URDF to OUT and exits 0, or prints xacro's error and exits 1.
"""

import sys


def main(argv: list) -> int:
    """Expand argv[0] with the name:=value mappings of argv[2:] into argv[1]."""
    source, target = argv[0], argv[1]
    mappings = dict(a.split(':=', 1) for a in argv[2:] if ':=' in a)
    try:
        import xacro
        text = xacro.process_file(source, mappings=mappings).toxml()
    except Exception as e:  # xacro raises many types; the parent reports the last line
        print(f'{type(e).__name__}: {e}', file=sys.stderr)
        return 1
    with open(target, 'w', encoding='utf-8') as f:
        f.write(text)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
