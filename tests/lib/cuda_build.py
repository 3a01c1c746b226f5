"""Building a CUDA Cython module the way setup.py does, for the tests that build CUDA sources
with nvcc (libcudart found by lib.utils.cuda_paths.cuda_lib_dir)."""
import os
import subprocess
import sys
import sysconfig

import numpy as np

from lib.utils.cuda_paths import cuda_lib_dir


def build_cuda_cython_module(out_dir, pyx_path, cu_path, nvcc_flags=()):
    """Compile ``cu_path`` with nvcc and ``pyx_path`` with Cython + gcc into an importable
    module in ``out_dir`` (the way setup.py builds CUDA_CYTHON_MODULES); returns its path.
    Needs nvcc, Cython and libcudart (see :func:`cuda_lib_dir`)."""
    name = os.path.splitext(os.path.basename(pyx_path))[0]
    source_dir = os.path.dirname(cu_path)
    obj = os.path.join(out_dir, name + '_kernel.o')
    subprocess.check_call(['nvcc', '-O3'] + list(nvcc_flags) + ['-Xcompiler', '-fPIC',
                                                                '-I' + source_dir, '-c', cu_path,
                                                                '-o', obj])
    c_file = os.path.join(out_dir, name + '.c')
    subprocess.check_call([sys.executable, '-m', 'cython', '-3', pyx_path, '-o', c_file])
    module = os.path.join(out_dir, name + sysconfig.get_config_var('EXT_SUFFIX'))
    lib_dir = cuda_lib_dir()
    subprocess.check_call(['gcc', '-shared', '-fPIC', '-O2', c_file, obj, '-I' + source_dir,
                           '-I' + np.get_include(), '-I' + sysconfig.get_paths()['include'],
                           '-L' + lib_dir, '-Wl,-rpath,' + lib_dir, '-lcudart', '-lstdc++',
                           '-o', module])
    return module
