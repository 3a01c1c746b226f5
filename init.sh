#!/bin/sh
# Set up a machine for FCIS: install the pinned Python packages, create the data/model
# folders and build every native part (Cython helpers and the MXNet operator library).
#
#   sh init.sh                 # CPU (mxnet==1.9.1)
#   FCIS_GPU=1 sh init.sh      # GPU (mxnet-cu112==1.9.1, CUDA kernels built with nvcc)
#   FCIS_SKIP_PIP=1 sh init.sh # build only, keep the installed packages
#   PYTHON=python3.13 sh init.sh  # another interpreter (3.11, 3.12 and 3.13 are supported)
#
# Safe to run again: pip skips what is installed, the build skips what is up to date.
set -e
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}

step() { printf '\n[init] %s\n' "$*"; }
fail() { printf '\n[init] FAILED: %s\n' "$*" >&2; exit 1; }

# An interpreter that is not a supported version stops here with one line.
refuse() { printf '[init] %s; supported: Python 3.11, 3.12, 3.13 (e.g. PYTHON=python3.13 sh init.sh)\n' "$*" >&2; exit 1; }
VERSION=$($PYTHON -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) || refuse "cannot run '$PYTHON'"
case "$VERSION" in
    3.11|3.12|3.13) ;;
    *) refuse "Python $VERSION ($PYTHON) is not supported" ;;
esac

# The MXNet line of the requirements file is installed with --no-deps (its metadata says
# numpy<2; see requirements.txt), every other line through pip's resolver.
MXNET_LINE='^mxnet(-cu[0-9]+)?=='
if [ -z "$FCIS_SKIP_PIP" ]; then
    if [ -n "$FCIS_GPU" ]; then REQ=requirements-gpu.txt; else REQ=requirements.txt; fi
    MXNET=$(grep -E "$MXNET_LINE" "$REQ")
    DEPS=$(mktemp)
    trap 'rm -f "$DEPS"' EXIT
    grep -vE "$MXNET_LINE" "$REQ" > "$DEPS"
    step "installing Python packages from $REQ for Python $VERSION"
    $PYTHON -m pip install --disable-pip-version-check -q -r "$DEPS" || fail "pip install -r $REQ (see the pip output above)"
    step "installing $MXNET (--no-deps)"
    $PYTHON -m pip install --disable-pip-version-check -q --no-deps "$MXNET" || fail "pip install --no-deps $MXNET (see the pip output above)"
fi

step "creating data/, model/ and output/"
mkdir -p data model output

step "building native extensions (python setup.py build_ext --inplace)"
$PYTHON setup.py -q build_ext --inplace || fail "native build (python setup.py build_ext --inplace)"

step "checking that the operator library loads"
$PYTHON -c "from lib.ops import load_ops; print('[init] loaded', load_ops())" || fail "loading lib/ops/libfcis_ops.so"

step "done"
