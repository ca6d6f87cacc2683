"""``python -m ik_service --ros-args ...`` starts the node, like ``ik_service_node``."""

import sys

from ik_service.node import main

if __name__ == '__main__':
    sys.exit(main())
