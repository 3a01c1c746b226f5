"""Where the CUDA runtime library is, for the tests that build CUDA sources with nvcc."""
import os
import shutil


def cuda_lib_dir():
    """Folder holding libcudart.so ($CUDA_HOME, $CUDA_PATH, /usr/local/cuda or next to nvcc),
    or None."""
    nvcc = shutil.which("nvcc")
    for home in [os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda",
                 os.path.dirname(os.path.dirname(os.path.realpath(nvcc))) if nvcc else None]:
        if home and os.path.exists(os.path.join(home, "lib64", "libcudart.so")):
            return os.path.join(home, "lib64")
    return None
