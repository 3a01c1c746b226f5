"""Builds the GPU check's shared library with nvcc and finds the GPU (stdlib only).

The library ``libgpu_check.so`` holds the project's own CUDA sources, each compiled with
the flags setup.py uses for it, plus ``harness.cu`` (host-pointer entry points):

  lib/ops/psroi_pooling/psroi_pooling.cu      launchers psroi_pooling_{forward,backward}_gpu
  lib/ops/channel_operator/channel_operator.cu launchers channel_operator_{forward,backward}_gpu
  lib/ops/spatial_mean/spatial_mean.cu         launchers spatial_mean_{forward,backward}_gpu
  lib/nms/nms_kernel.cu                        fcis_gpu_nms (host pointers)
  lib/masks/mask_voting_kernel.cu              fcis_gpu_vote_region, fcis_gpu_vote_soft
                                               (host pointers)

cudart is linked statically (nvcc's default), so the library needs only the driver.
"""
import ctypes
import hashlib
import os
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))))
HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_BUILD_DIR = os.path.join(ROOT, 'build', 'gpu_check')
FALLBACK_ARCHS = ('80', '90')  # A100, H100/H200: compiled for when no GPU is visible

OPS_FLAGS = ['-std=c++14', '-O3', '-DMXNET_FCIS_WITH_CUDA', '-I' + os.path.join(ROOT, 'lib', 'ops')]
# (source, nvcc flags): the op library's flags for lib/ops, the Cython modules' for the rest.
SOURCES = [
    ('lib/ops/psroi_pooling/psroi_pooling.cu', OPS_FLAGS),
    ('lib/ops/channel_operator/channel_operator.cu', OPS_FLAGS),
    ('lib/ops/spatial_mean/spatial_mean.cu', OPS_FLAGS),
    ('lib/nms/nms_kernel.cu', ['-O3', '--fmad=false', '-I' + os.path.join(ROOT, 'lib', 'nms')]),
    ('lib/masks/mask_voting_kernel.cu',
     ['-O3', '--fmad=false', '-I' + os.path.join(ROOT, 'lib', 'masks')]),
    (os.path.join(HERE, 'harness.cu'), OPS_FLAGS),
]
HEADERS = ['lib/ops/host_device.h', 'lib/ops/cuda_launch.h', 'lib/ops/psroi_pooling/psroi_pooling.h',
           'lib/ops/channel_operator/channel_operator.h', 'lib/ops/spatial_mean/spatial_mean.h',
           'lib/nms/nms_kernel.h',
           'lib/masks/mask_voting_kernel.h']


_P, _I, _F = ctypes.c_void_p, ctypes.c_int, ctypes.c_float
# (out, masks, num_masks, src_h, src_w, extents, members, weights, num_members, rx1, ry1, rx2,
#  ry2, binary_thresh, binarize_inputs, device_id, err, err_len) of mask_voting_kernel.h
_VOTE_ARGS = [_P, _P, _I, _I, _I, _P, _P, _P, _I, _I, _I, _I, _I, _F, _I, _I, _P, _I]
# argtypes of the entry points Python calls directly: ctypes converts and checks each
# argument (TypeError for too few, ArgumentError for a wrong type) before the call.
PROTOTYPES = {
    'fcis_gpu_nms': [_P, _P, _P, _I, _I, _F, _I, _P, _I],
    'fcis_gpu_vote_region': _VOTE_ARGS,
    'fcis_gpu_vote_soft': _VOTE_ARGS,
}


class BuildError(RuntimeError):
    """nvcc is missing or a compile/link step failed."""


def detect_gpu():
    """(compute capability as 'XY', device name) of CUDA device 0 through the driver API
    (libcuda.so.1), or (None, reason) when there is no usable GPU."""
    try:
        cuda = ctypes.CDLL('libcuda.so.1')
    except OSError:
        return None, 'no CUDA driver (libcuda.so.1 not found)'
    count, major, minor = ctypes.c_int(0), ctypes.c_int(0), ctypes.c_int(0)
    if cuda.cuInit(0) != 0:
        return None, 'cuInit failed (no CUDA device visible to the driver)'
    if cuda.cuDeviceGetCount(ctypes.byref(count)) != 0 or count.value == 0:
        return None, 'the CUDA driver sees no device'
    name = ctypes.create_string_buffer(256)
    cuda.cuDeviceGetName(name, 256, 0)
    cuda.cuDeviceGetAttribute(ctypes.byref(major), 75, 0)  # COMPUTE_CAPABILITY_MAJOR
    cuda.cuDeviceGetAttribute(ctypes.byref(minor), 76, 0)  # COMPUTE_CAPABILITY_MINOR
    return '%d%d' % (major.value, minor.value), name.value.decode('utf-8', 'replace')


def arch_flags(archs):
    """nvcc -gencode flags: SASS for each 'XY' of archs, plus PTX of the newest; 'native'
    passes -arch=native."""
    if archs == ['native']:
        return ['-arch=native']
    flags = ['-gencode=arch=compute_%s,code=sm_%s' % (a, a) for a in archs]
    return flags + ['-gencode=arch=compute_%s,code=compute_%s' % (archs[-1], archs[-1])]


def _build_key(archs):
    """Hash of the sources, headers and flags: one build folder per distinct build."""
    digest = hashlib.sha256(repr((archs, SOURCES)).encode())
    for path in [s for s, _ in SOURCES] + HEADERS:
        with open(os.path.join(ROOT, path), 'rb') as f:
            digest.update(f.read())
    return digest.hexdigest()[:16]


def _run(cmd):
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise BuildError('gpu_check: %s failed:\n%s' % (' '.join(cmd), result.stderr.strip()))


def build(archs, build_dir=DEFAULT_BUILD_DIR, jobs=None, log=print):
    """Compile SOURCES for archs (list of 'XY' or ['native']) and link libgpu_check.so;
    returns (library path, seconds spent, True if it was already built)."""
    nvcc = shutil.which('nvcc')
    if nvcc is None:
        raise BuildError('gpu_check: nvcc is not on the PATH; install the CUDA toolkit')
    out_dir = os.path.join(build_dir, _build_key(archs))
    library = os.path.join(out_dir, 'libgpu_check.so')
    if os.path.exists(library):
        return library, 0.0, True
    os.makedirs(out_dir, exist_ok=True)
    start = time.time()
    gencode = arch_flags(archs)

    def compile_one(item):
        source, flags = item
        obj = os.path.join(out_dir, os.path.basename(source) + '.o')
        _run([nvcc] + flags + gencode + ['-Xcompiler', '-fPIC', '-c',
                                         os.path.join(ROOT, source), '-o', obj])
        return obj

    jobs = jobs or max(1, min(len(SOURCES), (os.cpu_count() or 2) // 2))
    log('gpu_check: nvcc %s, %d source(s), %d job(s)' % (' '.join(gencode), len(SOURCES), jobs))
    with ThreadPoolExecutor(jobs) as pool:
        objects = list(pool.map(compile_one, SOURCES))
    _run([nvcc, '-shared'] + gencode + ['-o', library + '.tmp'] + objects)
    os.replace(library + '.tmp', library)  # a half-written library is never loaded
    return library, time.time() - start, False


def choose_archs(requested=None):
    """archs for build(): the requested list ('80,90' or 'native'), else the visible GPU's,
    else FALLBACK_ARCHS."""
    if requested:
        return [a.strip().replace('sm_', '') for a in requested.split(',') if a.strip()]
    cc, _ = detect_gpu()
    return [cc] if cc else list(FALLBACK_ARCHS)


class Harness:
    """ctypes view of libgpu_check.so. Every call raises RuntimeError with the library's
    one-line message on failure."""

    def __init__(self, path):
        self.lib = ctypes.CDLL(path)
        for name, argtypes in PROTOTYPES.items():
            function = getattr(self.lib, name)
            function.argtypes, function.restype = argtypes, ctypes.c_int
        self._err = ctypes.create_string_buffer(512)

    def call(self, name, *args):
        """lib.name(*args, err, 512); raises on a non-zero status."""
        status = getattr(self.lib, name)(*args, self._err, ctypes.c_int(512))
        if status != 0:
            raise RuntimeError(self._err.value.decode('utf-8', 'replace'))

    def device_info(self):
        """(device count, 'XY', name) as the CUDA runtime sees them."""
        count, major, minor = ctypes.c_int(0), ctypes.c_int(0), ctypes.c_int(0)
        name = ctypes.create_string_buffer(256)
        self.call('gc_device_info', ctypes.byref(count), ctypes.byref(major),
                  ctypes.byref(minor), name, ctypes.c_int(256))
        return count.value, '%d%d' % (major.value, minor.value), name.value.decode()

    def timer_start(self):
        self.call('gc_timer_start')

    def timer_stop(self):
        """Milliseconds since timer_start (CUDA events on the default stream)."""
        ms = ctypes.c_float(0)
        self.call('gc_timer_stop', ctypes.byref(ms))
        return ms.value
