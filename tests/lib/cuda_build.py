"""Where the CUDA runtime library is, for the tests that build CUDA sources with nvcc."""
import os
import shutil
import subprocess
import sys
import sysconfig

import numpy as np


def cuda_lib_dir():
    """Folder holding libcudart.so ($CUDA_HOME, $CUDA_PATH, /usr/local/cuda or next to nvcc),
    or None."""
    nvcc = shutil.which("nvcc")
    for home in [os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda",
                 os.path.dirname(os.path.dirname(os.path.realpath(nvcc))) if nvcc else None]:
        if home and os.path.exists(os.path.join(home, "lib64", "libcudart.so")):
            return os.path.join(home, "lib64")
    return None


def build_cuda_cython_module(out_dir, pyx_path, cu_path, nvcc_flags=()):
    """Compile ``cu_path`` with nvcc and ``pyx_path`` with Cython + gcc into an importable
    module in ``out_dir`` (the way setup.py builds CUDA_CYTHON_MODULES); returns its path.
    Needs nvcc, Cython and libcudart (see :func:`cuda_lib_dir`)."""
    name = os.path.splitext(os.path.basename(pyx_path))[0]
    source_dir = os.path.dirname(cu_path)
    obj = os.path.join(out_dir, name + "_kernel.o")
    subprocess.check_call(["nvcc", "-O3"] + list(nvcc_flags) + ["-Xcompiler", "-fPIC",
                                                                "-I" + source_dir, "-c", cu_path,
                                                                "-o", obj])
    c_file = os.path.join(out_dir, name + ".c")
    subprocess.check_call([sys.executable, "-m", "cython", "-3", pyx_path, "-o", c_file])
    module = os.path.join(out_dir, name + sysconfig.get_config_var("EXT_SUFFIX"))
    lib_dir = cuda_lib_dir()
    subprocess.check_call(["gcc", "-shared", "-fPIC", "-O2", c_file, obj, "-I" + source_dir,
                           "-I" + np.get_include(), "-I" + sysconfig.get_paths()["include"],
                           "-L" + lib_dir, "-Wl,-rpath," + lib_dir, "-lcudart", "-lstdc++",
                           "-o", module])
    return module
