"""``python -m ik_service.relabel ...``: the same as ``ik_service relabel ...``."""

import sys

from ik_service.relabel.cli import main

if __name__ == '__main__':
    sys.exit(main(['relabel', *sys.argv[1:]]))
