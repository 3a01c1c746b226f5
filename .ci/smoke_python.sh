#!/usr/bin/env bash
# Smoke run of the project on one more Python, in a fresh virtual environment:
#
#   bash .ci/smoke_python.sh 3.13
#
# finds a working python3.13 (on PATH, else under ~/.pyenv/versions), creates a venv in a
# temporary folder, installs and builds through init.sh, runs the operator tests, trains
# 30 iterations of the shapes config, tests 10 images and checks that pycocotools reads
# the results file. Exit status 0: passed; 77: no such interpreter (skipped); else failed.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=${1:?usage: smoke_python.sh 3.12|3.13}

# A python$VERSION that runs: pyenv shims are on PATH even for versions not enabled.
find_python() {
    local candidate
    for candidate in "$(command -v "python$VERSION" || true)" \
                     "$HOME"/.pyenv/versions/"$VERSION".*/bin/python"$VERSION"; do
        if [ -n "$candidate" ] && [ -x "$candidate" ] && "$candidate" -c '' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

if ! PY=$(find_python); then
    echo "[smoke $VERSION] skipped: no python$VERSION on PATH or under ~/.pyenv/versions"
    exit 77
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/fcis-smoke-$VERSION.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
VENV_PY=$TMP/venv/bin/python
CFG=experiments/fcis/cfgs/shapes_fcis_end2end.yaml
SECONDS=0
step() { echo "[smoke $VERSION] $*"; }
# timed NAME COMMAND...: run COMMAND, then print how long step NAME took.
timed() { local name=$1 start=$SECONDS; shift; "$@"; step "$name took $((SECONDS - start)) s"; }

step "interpreter $PY ($("$PY" --version 2>&1)), venv in $TMP/venv"
"$PY" -m venv "$TMP/venv"

step "sh init.sh"
timed init.sh env PYTHON="$VENV_PY" sh init.sh

step "operator tests (tests/lib/ops)"
timed "operator tests" "$VENV_PY" -m pytest -q -p no:cacheprovider tests/lib/ops

step "train 30 iterations of the shapes config, test 10 images"
timed "train and test" "$VENV_PY" experiments/fcis/fcis_end2end_train_test.py --cfg "$CFG" \
    "output_path=$TMP/output" "dataset.root_path=$TMP/data" "dataset.dataset_path=$TMP/data/shapes" \
    dataset.num_train_images=30 dataset.num_val_images=10 \
    TRAIN.end_epoch=1 TRAIN.lr_step=2 TRAIN.warmup_step=10 TEST.test_epoch=1 TEST.VIS_NUM=0 \
    default.frequent=10

step "pycocotools reads the results file"
RESULTS=$(find "$TMP/output" -name detections_results.json | head -n 1)
[ -n "$RESULTS" ] || { echo "[smoke $VERSION] FAILED: no detections_results.json under $TMP/output" >&2; exit 1; }
"$VENV_PY" - "$TMP/data/shapes/annotations/instances_val.json" "$RESULTS" <<'EOF'
import sys
from pycocotools.coco import COCO
gt = COCO(sys.argv[1])
dt = gt.loadRes(sys.argv[2])
assert len(dt.getImgIds()) > 0 and len(dt.anns) > 0, 'no detections in %s' % sys.argv[2]
print('[smoke] %d detections on %d images read by pycocotools' % (len(dt.anns), len(dt.getImgIds())))
EOF

step "passed in $SECONDS s"
