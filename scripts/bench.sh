#!/usr/bin/env bash
# Speed and solve rate against TRAC-IK, Klampt and ikpy: set-up (with the peers, a
# benchmark extra, not runtime dependencies), then bench/ik_bench.py with any arguments.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
"$ROOT/.venv/bin/python" -m pip --disable-pip-version-check -q install -r "$ROOT/bench/requirements.txt" \
  2>&1 | { grep -v 'is ignored: it is neither a file nor a directory' || true; }
# Klampt's C++ prints a line per clamped joint; keep the tables readable.
"$ROOT/.venv/bin/python" "$ROOT/bench/ik_bench.py" "$@" 2>&1 \
  | grep -v -e '^IKSolver:: Joint limits' -e '^URDFParser' -e '^WorldModel::' -e '^joint mimic' \
            -e 'KDL does not support a root link with an inertia'
