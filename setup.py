"""Build every native part of the project in place: ``python setup.py build_ext --inplace``.

Two kinds of native code, one list each:

* ``CYTHON_MODULES`` -- Python extension modules compiled from ``.pyx`` sources.
* ``OPERATOR_LIBRARY`` -- the MXNet external operator library (``PSROIPooling`` and
  ``ChannelOperator``), a plain shared object loaded with ``mx.library.load``.

CUDA sources are compiled only when ``nvcc`` is on the PATH *and* the installed MXNet was
built with CUDA (``mxnet-cu112``); the CPU wheel never needs them.
"""
import concurrent.futures
import importlib.util
import os
import shutil
import subprocess
import sys

import numpy
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = os.path.dirname(os.path.abspath(__file__))


def project_module(name, relative_path):
    """A standard-library-only module of the project, loaded from its file: importing it
    through ``lib`` would run lib/__init__.py, which needs MXNet and the built extensions."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, relative_path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


atomic = project_module('fcis_setup_atomic', 'lib/utils/atomic.py')
cuda_paths = project_module('fcis_setup_cuda_paths', 'lib/utils/cuda_paths.py')
threads = project_module('fcis_setup_threads', 'lib/utils/threads.py')

# (module name, [sources]) -- every Cython extension of the project.
CYTHON_MODULES = [  # the longest compile first: the parallel build ends with short ones
    ('lib.masks.mask_voting_cython', ['lib/masks/mask_voting_cython.pyx']),
    ('lib.nms.cpu_nms', ['lib/nms/cpu_nms.pyx']),
    ('lib.boxes.bbox_cython', ['lib/boxes/bbox_cython.pyx']),
]

# (module name, [.pyx sources], [.cu sources]) -- Cython extensions that need CUDA.
CUDA_CYTHON_MODULES = [
    ('lib.nms.gpu_nms', ['lib/nms/gpu_nms.pyx'], ['lib/nms/nms_kernel.cu']),
    ('lib.masks.gpu_mask_voting', ['lib/masks/gpu_mask_voting.pyx'], ['lib/masks/mask_voting_kernel.cu']),
]

# The MXNet operator library: one shared object from the C++ sources, plus the CUDA
# sources when CUDA is available.
OPERATOR_LIBRARY = {
    'output': 'lib/ops/libfcis_ops.so',
    'cpu_sources': [
        'lib/ops/library.cc',
        'lib/ops/psroi_pooling/psroi_pooling.cc',
        'lib/ops/psroi_pooling/psroi_pooling_cpu.cc',
        'lib/ops/channel_operator/channel_operator.cc',
        'lib/ops/spatial_mean/spatial_mean.cc',
        'lib/ops/multi_sgd/multi_sgd.cc',
    ],
    'cuda_sources': [
        'lib/ops/psroi_pooling/psroi_pooling.cu',
        'lib/ops/channel_operator/channel_operator.cu',
        'lib/ops/spatial_mean/spatial_mean.cu',
    ],
}


def mxnet_dir():
    """Folder of the installed mxnet package (holds include/ and src/lib_api.cc)."""
    spec = importlib.util.find_spec('mxnet')
    if spec is None:
        sys.exit('setup.py: mxnet is not installed; run `pip install -r requirements.txt` first')
    return os.path.dirname(spec.origin)


def mxnet_has_cuda():
    """True when the installed libmxnet was built with CUDA (checked without importing mxnet)."""
    lib = os.path.join(mxnet_dir(), 'libmxnet.so')
    try:
        out = subprocess.run(['ldd', lib], capture_output=True, text=True).stdout
    except OSError:
        return False
    return 'libcudart' in out or 'libcuda.' in out


def cuda_library_dirs():
    """[the folder holding libcudart] (lib/utils/cuda_paths.py), or [] when there is none."""
    lib_dir = cuda_paths.cuda_lib_dir()
    return [lib_dir] if lib_dir else []


def cuda_enabled():
    return shutil.which('nvcc') is not None and mxnet_has_cuda()


def run(cmd):
    print(' '.join(cmd), flush=True)
    subprocess.check_call(cmd, cwd=ROOT)


def run_parallel(commands):
    """``run`` every command, as many at once as the machine has usable cores; the first
    failure raises (after the running ones finish)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=threads.usable_cores()) as pool:
        for future in [pool.submit(run, cmd) for cmd in commands]:
            future.result()


def build_operator_library(force=False):
    """Compile ``OPERATOR_LIBRARY`` with g++ (OpenMP) and, where enabled, nvcc."""
    mx_dir = mxnet_dir()
    include = os.path.join(mx_dir, 'include')
    lib_api = os.path.join(mx_dir, 'src', 'lib_api.cc')
    out = os.path.join(ROOT, OPERATOR_LIBRARY['output'])
    sources = [os.path.join(ROOT, s) for s in OPERATOR_LIBRARY['cpu_sources']]
    headers = [os.path.join(d, f) for s in sources for d in [os.path.dirname(s)]
               for f in os.listdir(d) if f.endswith('.h')]
    use_cuda = cuda_enabled()
    if use_cuda:
        sources += [os.path.join(ROOT, s) for s in OPERATOR_LIBRARY['cuda_sources']]
    newest = max(os.path.getmtime(p) for p in sources + headers + [lib_api])
    if not force and os.path.exists(out) and os.path.getmtime(out) >= newest:
        print('operator library is up to date: %s' % OPERATOR_LIBRARY['output'])
        return
    build_dir = os.path.join(ROOT, 'build', 'ops')
    os.makedirs(build_dir, exist_ok=True)
    objects, commands = [], []
    cxx_flags = ['-std=c++17', '-O3', '-fPIC', '-fopenmp', '-I' + include, '-I' + os.path.join(ROOT, 'lib', 'ops')]
    for src in [lib_api] + sources:
        obj = os.path.join(build_dir, os.path.basename(src) + '.o')
        if src.endswith('.cu'):
            commands.append(['nvcc', '-std=c++14', '-O3', '-Xcompiler', '-fPIC', '-I' + include,
                             '-I' + os.path.join(ROOT, 'lib', 'ops'), '-DMXNET_FCIS_WITH_CUDA',
                             '-c', src, '-o', obj])
        else:
            flags = cxx_flags + (['-DMXNET_FCIS_WITH_CUDA'] if use_cuda else [])
            commands.append(['g++'] + flags + ['-c', src, '-o', obj])
        objects.append(obj)
    run_parallel(commands)
    with atomic.atomic_path(out) as tmp:  # a half-written library is never loaded
        link = ['g++', '-shared', '-fopenmp', '-o', tmp] + objects
        if use_cuda:
            link += ['-L' + d for d in cuda_library_dirs()] + ['-lcudart']
        run(link)
    print('built %s%s' % (OPERATOR_LIBRARY['output'], ' (with CUDA)' if use_cuda else ' (CPU only)'))


class BuildExt(build_ext):
    """build_ext that also builds the MXNet operator library, beside the Cython modules
    (their compilers share the cores); the Cython modules compile in parallel (one job per
    usable core) unless ``-j`` says otherwise."""

    def finalize_options(self):
        build_ext.finalize_options(self)
        if not self.parallel:
            self.parallel = threads.usable_cores()

    def run(self):
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as side:
            library = side.submit(build_operator_library, self.force)
            build_ext.run(self)
            library.result()


def extensions():
    exts = [Extension(name, srcs, include_dirs=[numpy.get_include(), os.path.dirname(srcs[0])],
                      extra_compile_args=['-O3', '-g0'],  # no debug info: a faster build
                      define_macros=[('NPY_NO_DEPRECATED_API', 'NPY_1_7_API_VERSION')])
            for name, srcs in CYTHON_MODULES]
    if cuda_enabled():
        # GPU NMS: the .cu kernel is compiled by nvcc into an object linked with the Cython module.
        for name, pyx, cu in CUDA_CYTHON_MODULES:
            objects = []
            for src in cu:
                obj = os.path.join(ROOT, 'build', os.path.basename(src) + '.o')
                os.makedirs(os.path.dirname(obj), exist_ok=True)
                run(['nvcc', '-O3', '--fmad=false', '-Xcompiler', '-fPIC',
                     '-I' + os.path.join(ROOT, os.path.dirname(src)), '-c', src, '-o', obj])
                objects.append(obj)
            exts.append(Extension(name, pyx,
                                  include_dirs=[numpy.get_include(), os.path.dirname(pyx[0])],
                                  extra_objects=objects, libraries=['cudart', 'stdc++'],
                                  library_dirs=cuda_library_dirs(),
                                  runtime_library_dirs=cuda_library_dirs()))
    from Cython.Build import cythonize
    return cythonize(exts, language_level=3, quiet=True, nthreads=threads.usable_cores())


if __name__ == '__main__':
    setup(
        name='fcis-mxnet',
        version='1.0.0',
        description='FCIS (Fully Convolutional Instance-aware Semantic Segmentation) on MXNet 1.9',
        packages=[],
        ext_modules=extensions(),
        cmdclass={'build_ext': BuildExt},
        zip_safe=False,
    )
