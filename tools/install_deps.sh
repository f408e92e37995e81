#!/usr/bin/env bash
# Install the OpenMMLab 2.0 stack and mpt_plugin into a virtual environment.
#
# Usage: tools/install_deps.sh VENV [WHEELS_DIR]
#
# Order and flags follow what installs on a fresh Python 3.11 / numpy 2 machine:
#   1. torch 2.13.0 + torchvision 0.28.0 together, both from the registry (matching builds);
#   2. build prerequisites (numpy, cython, setuptools<81, wheel, ninja);
#   3. mmcv 2.1.0 with compiled ops: a pre-built wheel from WHEELS_DIR when present,
#      otherwise built from the registry's sdist (about 17 minutes on 2 cores);
#   4. chumpy and xtcocotools (numpy-2 builds; mmpose depends on both);
#   5. mmengine, mmdet, mmpose, smplx and the rest; test tools;
#   6. mpt_plugin itself in editable mode.
# Every step is skipped quickly when already satisfied, so a re-run takes seconds.
set -euo pipefail

VENV=${1:?usage: install_deps.sh VENV [WHEELS_DIR]}
WHEELS=${2:-}
HERE=$(cd "$(dirname "$0")/.." && pwd)
PY="$VENV/bin/python"

# Some machines point pip's find-links at a CPU-only torch that does not match the
# registry's torchvision; never let it (or any other local folder) sneak in implicitly.
unset PIP_FIND_LINKS
pip_install() { "$PY" -m pip install --disable-pip-version-check "$@"; }

have_wheels=0
if [ -n "$WHEELS" ] && [ -d "$WHEELS" ]; then
  have_wheels=1
  echo "[install] using pre-built wheels from $WHEELS"
fi

if [ ! -x "$PY" ]; then
  echo "[install] creating virtual environment $VENV"
  "${PYTHON:-python3}" -m venv "$VENV"
fi

echo "[install] 1/6 torch + torchvision"
pip_install -r "$HERE/requirements/torch.txt"

echo "[install] 2/6 build prerequisites"
pip_install -r "$HERE/requirements/build.txt"

echo "[install] 3/6 mmcv 2.1.0 with compiled ops"
if "$PY" -c "import mmcv, mmcv.ops; assert mmcv.__version__ == '2.1.0'" 2>/dev/null; then
  echo "[install] mmcv 2.1.0 with ops already present"
else
  mmcv_wheel=""
  if [ $have_wheels = 1 ]; then
    mmcv_wheel=$(ls "$WHEELS"/mmcv-2.1.0-*.whl 2>/dev/null | head -n 1 || true)
  fi
  if [ -n "$mmcv_wheel" ] && pip_install --no-deps "$mmcv_wheel"; then
    echo "[install] mmcv from $mmcv_wheel"
  else
    echo "[install] building mmcv 2.1.0 from source (about 17 minutes on 2 cores)"
    MMCV_WITH_OPS=1 FORCE_CUDA=0 pip_install --no-deps --no-build-isolation mmcv==2.1.0
  fi
  # mmcv's own runtime dependencies (no torch, no other mmcv).
  pip_install addict packaging Pillow pyyaml yapf opencv-python
fi

echo "[install] 4/6 chumpy and xtcocotools (numpy 2 builds)"
if ! "$PY" -m pip show -q chumpy >/dev/null 2>&1; then
  chumpy_wheel=""
  [ $have_wheels = 1 ] && chumpy_wheel=$(ls "$WHEELS"/chumpy-0.70-*.whl 2>/dev/null | head -n 1 || true)
  if [ -n "$chumpy_wheel" ]; then
    pip_install --no-deps "$chumpy_wheel"
  else
    pip_install --no-deps --no-build-isolation chumpy==0.70
  fi
fi
if ! "$PY" -c "import xtcocotools._mask" 2>/dev/null; then
  xtc_wheel=""
  [ $have_wheels = 1 ] && xtc_wheel=$(ls "$WHEELS"/xtcocotools-1.14.3-*.whl 2>/dev/null | head -n 1 || true)
  if [ -n "$xtc_wheel" ]; then
    pip_install --no-deps "$xtc_wheel"
  else
    pip_install --no-deps --no-binary xtcocotools --no-build-isolation xtcocotools==1.14.3
  fi
fi

echo "[install] 5/6 mmengine, mmdet, mmpose, smplx, test tools"
pip_install -r "$HERE/requirements/runtime.txt" -r "$HERE/requirements/tests.txt"

echo "[install] 6/6 mpt_plugin (editable)"
pip_install --no-deps --no-build-isolation -e "$HERE"

"$PY" -c "import mpt_plugin, mmcv.ops, torchvision.ops, mmpose.apis; print('[install] ok: mpt_plugin', mpt_plugin.__version__)"
