"""GPU mask voting: the per-pixel formulation the CUDA kernel runs gives the CPU core's bits,
and the CUDA sources compile with nvcc and link into an importable module (no GPU here, so
the call must fail with a clear RuntimeError, or agree with the CPU when a GPU exists)."""
import ctypes
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from lib.masks.mask_voting_cython import vote_region, vote_region_soft
from tests.lib.cuda_build import build_cuda_cython_module, cuda_lib_dir

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
MASKS_DIR = os.path.join(ROOT, 'lib', 'masks')

# Host build of the kernel's per-pixel loop: the shared header's per-pixel functions for every
# pixel of the region, as the CUDA kernel runs them with one thread per pixel.
PER_PIXEL_C = r"""
#include "mask_voting_kernel.h"

#define REGION_LOOP for (y = ry1; y <= ry2; ++y) for (x = rx1; x <= rx2; ++x)

/* out: (ry2-ry1+1, rx2-rx1+1) uint8 votes; other arguments as fcis_vote_pixel. */
void vote_region_per_pixel(unsigned char *out, const float *masks, int src_h, int src_w,
                           const int *extents, const long long *members, const float *weights,
                           int num_members, int rx1, int ry1, int rx2, int ry2,
                           float binary_thresh, int binarize_inputs) {
  int x, y;
  REGION_LOOP *out++ = fcis_vote_pixel(masks, src_h, src_w, extents, members, weights,
                                       num_members, x, y, binary_thresh, binarize_inputs);
}

/* acc, total: (ry2-ry1+1, rx2-rx1+1) float32 weighted sums of fcis_pixel_sums. */
void sums_per_pixel(float *acc, float *total, const float *masks, int src_h, int src_w,
                    const int *extents, const long long *members, const float *weights,
                    int num_members, int rx1, int ry1, int rx2, int ry2, float binary_thresh,
                    int binarize_inputs) {
  int x, y;
  REGION_LOOP fcis_pixel_sums(masks, src_h, src_w, extents, members, weights, num_members,
                              x, y, binary_thresh, binarize_inputs, acc++, total++);
}

/* out: (ry2-ry1+1, rx2-rx1+1) float64 soft votes of fcis_soft_vote_pixel. */
void soft_per_pixel(double *out, const float *masks, int src_h, int src_w, const int *extents,
                    const long long *members, const float *weights, int num_members, int rx1,
                    int ry1, int rx2, int ry2, float binary_thresh, int binarize_inputs) {
  int x, y;
  REGION_LOOP *out++ = fcis_soft_vote_pixel(masks, src_h, src_w, extents, members, weights,
                                            num_members, x, y, binary_thresh,
                                            binarize_inputs);
}
"""


def random_case(rng, n=10, src_h=21, src_w=17):
    """masks (n, src_h, src_w) float32: noisy soft half-planes (foreground on one side of
    nearly the same line for all ROIs, as for one object), so votes vary over the region;
    extents (n, 4) int32 jittered around one box (as voters are) or stray, partly outside a
    60x80 image; members (m,) intp; weights (m,) float32."""
    ys, xs = np.mgrid[0:src_h, 0:src_w] / max(src_h, src_w)  # (src_h, src_w) each
    angle = rng.uniform(0, 2 * np.pi) + rng.normal(0, 0.3, (n, 1, 1))  # one object's edge
    offset = rng.normal(0, 0.1, (n, 1, 1))
    side = np.cos(angle) * (xs - 0.5) + np.sin(angle) * (ys - 0.5) - offset  # (n, src_h, src_w)
    noise = rng.normal(0, 0.1, (n, src_h, src_w))
    masks = np.clip(1 / (1 + np.exp(-8 * side)) + noise, 0, 1).astype(np.float32)
    base = np.array([rng.randint(-10, 60), rng.randint(-10, 40)] * 2)
    base[2:] += [rng.randint(8, 40), rng.randint(8, 30)]  # a box the voters cluster around
    extents = base + rng.randint(-4, 5, (n, 4))  # (n, 4) jittered copies
    stray = rng.uniform(size=n) < 0.15  # some ROIs anywhere, partly or fully elsewhere
    extents[stray, :2] = rng.randint(-20, 70, (stray.sum(), 2))
    extents[stray, 2:] = extents[stray, :2] + rng.randint(0, 50, (stray.sum(), 2))
    extents[:, 2:] = np.maximum(extents[:, 2:], extents[:, :2])  # x2 >= x1, y2 >= y1
    extents = extents.astype(np.int32)
    m = rng.randint(2, n + 1)
    members = np.ascontiguousarray(rng.choice(n, m, replace=False).astype(np.intp))
    weights = rng.uniform(0.01, 1, m).astype(np.float32)
    return masks, extents, members, weights


def random_region(rng, extents, members):
    """(rx1, ry1, rx2, ry2) inclusive, inside a 60x80 image: the whole image, a random
    rectangle, or the first member's extent clipped to the image (as mask voting asks)."""
    kind = rng.choice([0, 1, 2, 2])
    if kind == 0:
        return 0, 0, 79, 59
    x1, y1, x2, y2 = (int(v) for v in extents[members[0]])
    if kind == 1 or x2 < 0 or y2 < 0 or x1 > 79 or y1 > 59:
        x1, y1 = rng.randint(0, 80), rng.randint(0, 60)
        return x1, y1, rng.randint(x1, 80), rng.randint(y1, 60)
    return max(x1, 0), max(y1, 0), min(x2, 79), min(y2, 59)


@pytest.fixture(scope='module')
def per_pixel(tmp_path_factory):
    """PER_PIXEL_C built with gcc -ffp-contract=off (as the Cython core) and loaded."""
    if shutil.which('gcc') is None:
        pytest.skip('gcc not on this machine')
    folder = tmp_path_factory.mktemp('per_pixel')
    src = folder / 'per_pixel.c'
    src.write_text(PER_PIXEL_C)
    lib_path = str(folder / 'libper_pixel.so')
    subprocess.check_call(['gcc', '-O3', '-ffp-contract=off', '-shared', '-fPIC',
                           '-I' + MASKS_DIR, str(src), '-o', lib_path, '-lm'])
    lib = ctypes.CDLL(lib_path)
    ptr = np.ctypeslib.ndpointer
    inputs = [ptr(np.float32, flags='C'), ctypes.c_int, ctypes.c_int, ptr(np.int32, flags='C'),
              ptr(np.int64, flags='C'), ptr(np.float32, flags='C')] + [ctypes.c_int] * 5 + \
             [ctypes.c_float, ctypes.c_int]
    lib.vote_region_per_pixel.restype = None
    lib.vote_region_per_pixel.argtypes = [ptr(np.uint8, flags='C')] + inputs
    lib.sums_per_pixel.restype = None
    lib.soft_per_pixel.restype = None
    lib.soft_per_pixel.argtypes = [ptr(np.float64, flags='C')] + inputs
    lib.sums_per_pixel.argtypes = [ptr(np.float32, flags='C')] * 2 + inputs
    return lib


def call_per_pixel(function, outputs, masks, extents, members, weights, region, thresh,
                   binarize):
    function(*outputs, masks, masks.shape[1], masks.shape[2], extents,
             members.astype(np.int64), weights, len(members), *region, thresh, int(binarize))


def test_per_pixel_votes_equal_cython(per_pixel):
    """The GPU's per-pixel loop equals the Cython two-pass vote_region on random cases
    (regions partly covered by the members, binarize on and off, several thresholds)."""
    rng = np.random.RandomState(5)
    mixed = 0
    for trial in range(40):
        masks, extents, members, weights = random_case(rng, src_h=rng.randint(1, 25),
                                                       src_w=rng.randint(1, 25))
        region = random_region(rng, extents, members)
        binarize = bool(trial % 2)
        thresh = np.float32(rng.choice([0.4, 0.5, 0.3]))
        expected = vote_region(masks, extents, members, weights, *region, thresh, binarize)
        got = np.zeros_like(expected)  # (rh, rw)
        call_per_pixel(per_pixel.vote_region_per_pixel, [got], masks, extents, members,
                       weights, region, thresh, binarize)
        np.testing.assert_array_equal(got, expected, err_msg='trial %d' % trial)
        mixed += 0 < expected.sum() < expected.size
    assert mixed >= 20  # most cases really vote: regions with both 0 and 1 pixels


def test_per_pixel_sums_equal_cython_to_the_last_bit(per_pixel):
    """Without input binarization, thresholds set exactly at per-pixel averages (and one float
    above them) flip a pixel's vote on any 1-ulp difference: the Cython votes must agree."""
    rng = np.random.RandomState(6)
    checked = 0
    for trial in range(12):
        masks, extents, members, weights = random_case(rng)
        region = random_region(rng, extents, members)
        shape = (region[3] - region[1] + 1, region[2] - region[0] + 1)  # (rh, rw)
        acc, total = np.zeros(shape, np.float32), np.zeros(shape, np.float32)
        call_per_pixel(per_pixel.sums_per_pixel, [acc, total], masks, extents, members,
                       weights, region, 0.5, False)
        average = acc / total  # (rh, rw) float32, the value fcis_vote thresholds
        values = np.unique(average[(average > 0) & (average < 1)])
        if values.size == 0:
            continue  # a region no member covers (random rectangle): nothing to threshold
        checked += 1
        picks = rng.choice(values, min(6, values.size), replace=False)
        for thresh in np.concatenate([picks, np.nextafter(picks, np.float32(2))]):
            expected = vote_region(masks, extents, members, weights, *region, thresh, False)
            np.testing.assert_array_equal(expected, average >= thresh, err_msg='trial %d' % trial)
    assert checked >= 8


def test_per_pixel_soft_votes_equal_cython(per_pixel):
    """The GPU's per-pixel soft vote (release aggregation, float64 sums) equals the Cython
    vote_region_soft bit for bit (binarize on and off)."""
    rng = np.random.RandomState(7)
    covered = 0
    for trial in range(30):
        masks, extents, members, weights = random_case(rng, src_h=rng.randint(1, 25),
                                                       src_w=rng.randint(1, 25))
        weights = (weights / weights.sum()).astype(np.float32)
        region = random_region(rng, extents, members)
        binarize = bool(trial % 2)
        expected = vote_region_soft(masks, extents, members, weights, *region, 0.4, binarize)
        got = np.zeros_like(expected)  # (rh, rw) float64
        call_per_pixel(per_pixel.soft_per_pixel, [got], masks, extents, members, weights,
                       region, np.float32(0.4), binarize)
        np.testing.assert_array_equal(got, expected, err_msg='trial %d' % trial)
        covered += expected.max() > 0
    assert covered >= 20


GPU_SCRIPT = r"""
import numpy as np, gpu_mask_voting
from lib.masks.mask_voting_cython import vote_region
rng = np.random.RandomState(0)
masks = rng.uniform(size=(6, 21, 21)).astype(np.float32)
extents = np.array([[0, 0, 30, 20], [5, 3, 40, 30], [-10, -5, 12, 8], [50, 40, 79, 59],
                    [20, 10, 21, 11], [2, 2, 70, 50]], np.int32)
members = np.array([1, 0, 3, 5, 2], np.intp)
weights = rng.uniform(0.1, 1, 5).astype(np.float32)
try:
    gpu_mask_voting.vote_region_gpu(masks, extents, members, weights[:3], 0, 0, 9, 9, 0.4, True)
except ValueError as err:
    print('MISMATCH', err)
try:
    gpu_mask_voting.vote_region_gpu(masks, extents, np.array([0, 9], np.intp),
                                    weights[:2], 0, 0, 9, 9, 0.4, True, 0)
except RuntimeError as err:
    print('BADMEMBER', err)
try:
    for region, binarize in [((0, 0, 79, 59), True), ((10, 5, 30, 25), False)]:
        gpu = gpu_mask_voting.vote_region_gpu(masks, extents, members, weights, *region, 0.4,
                                              binarize, 0)
        cpu = vote_region(masks, extents, members, weights, *region, 0.4, binarize)
        print('SAME' if gpu.dtype == cpu.dtype and np.array_equal(gpu, cpu) else 'DIFFERENT')
    from lib.masks.mask_voting_cython import vote_region_soft
    norm = (weights / weights.sum()).astype(np.float32)
    gpu = gpu_mask_voting.vote_region_soft_gpu(masks, extents, members, norm, 0, 0, 79, 59, 0.4,
                                               True, 0)
    cpu = vote_region_soft(masks, extents, members, norm, 0, 0, 79, 59, 0.4, True)
    print('SAME' if gpu.dtype == cpu.dtype and np.array_equal(gpu, cpu) else 'DIFFERENT')
except RuntimeError as err:
    print('ERROR', err)
"""


@pytest.mark.skipif(shutil.which('nvcc') is None or cuda_lib_dir() is None,
                    reason='nvcc / libcudart not on this machine')
def test_gpu_mask_voting_compiles_links_and_agrees_or_reports(tmp_path):
    from Cython.Build import cythonize  # noqa: F401  (cython must be importable)
    build_cuda_cython_module(str(tmp_path), os.path.join(MASKS_DIR, 'gpu_mask_voting.pyx'),
                             os.path.join(MASKS_DIR, 'mask_voting_kernel.cu'), ['--fmad=false'])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), ROOT]))
    out = subprocess.run([sys.executable, '-c', GPU_SCRIPT], cwd=str(tmp_path), env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines.pop(0) == 'MISMATCH vote_region_gpu: 3 weights for 5 members', lines
    # A member index outside masks is refused before the device is touched.
    assert lines[0] == ('BADMEMBER gpu_mask_voting: member 1 is ROI 9 but there are 6 masks; '
                        'members must index masks'), lines
    if lines[1].startswith('ERROR'):
        assert len(lines) == 2 and lines[1].startswith(
            'ERROR gpu_mask_voting: cudaSetDevice failed'), lines
    else:
        assert lines[1:] == ['SAME', 'SAME', 'SAME'], lines
