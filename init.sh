#!/bin/sh
# Set up a machine for FCIS: install the pinned Python packages, create the data/model
# folders and build every native part (Cython helpers and the MXNet operator library).
#
#   sh init.sh                 # CPU (mxnet==1.9.1)
#   FCIS_GPU=1 sh init.sh      # GPU (mxnet-cu112==1.9.1, CUDA kernels built with nvcc)
#   FCIS_SKIP_PIP=1 sh init.sh # build only, keep the installed packages
#
# Safe to run again: pip skips what is installed, the build skips what is up to date.
set -e
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}

step() { printf '\n[init] %s\n' "$*"; }
fail() { printf '\n[init] FAILED: %s\n' "$*" >&2; exit 1; }

if [ -z "$FCIS_SKIP_PIP" ]; then
    if [ -n "$FCIS_GPU" ]; then REQ=requirements-gpu.txt; else REQ=requirements.txt; fi
    step "installing Python packages from $REQ"
    $PYTHON -m pip install --disable-pip-version-check -q -r "$REQ" || fail "pip install -r $REQ (see the pip output above)"
fi

step "creating data/, model/ and output/"
mkdir -p data model output

step "building native extensions (python setup.py build_ext --inplace)"
$PYTHON setup.py -q build_ext --inplace || fail "native build (python setup.py build_ext --inplace)"

step "checking that the operator library loads"
$PYTHON -c "from lib.ops import load_ops; print('[init] loaded', load_ops())" || fail "loading lib/ops/libfcis_ops.so"

step "done"
