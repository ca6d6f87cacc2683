#!/usr/bin/env bash
# The whole test suite: set up if needed, then pytest in the venv on an isolated ROS domain.
# Arguments go to pytest (for example: -m "not slow", -k solver).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
# A domain of its own keeps parallel runs on one machine from answering each other's calls.
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-$(( (RANDOM % 100) + 1 ))}"
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
cd "$ROOT"
exec "$ROOT/.venv/bin/python" -m pytest "$@"
