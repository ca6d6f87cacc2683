#!/usr/bin/env bash
# The main job: set up if needed, start ik_service on the bundled UR5e, call /solve_ik and
# /compute_residual over DDS, print the answers, keep serving until Ctrl-C.
# Arguments go to ik_service_demo (--exit: stop after the calls).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
export PYTHONUNBUFFERED=1     # lines appear as they come, also through a pipe
exec "$ROOT/.venv/bin/python" -m ik_service.demo "$@"
