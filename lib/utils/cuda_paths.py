"""Where the CUDA runtime library (libcudart.so) is.

This module needs nothing but the standard library: setup.py loads it by path, before the
package is built.
"""
import os
import shutil


def cuda_homes():
    """Candidate CUDA installation folders, in search order: $CUDA_HOME, $CUDA_PATH,
    /usr/local/cuda and the folder above nvcc's bin/ (unset or absent entries left out)."""
    nvcc = shutil.which('nvcc')
    homes = [os.environ.get('CUDA_HOME'), os.environ.get('CUDA_PATH'), '/usr/local/cuda',
             os.path.dirname(os.path.dirname(os.path.realpath(nvcc))) if nvcc else None]
    return [home for home in homes if home]


def cuda_lib_dir():
    """The first ``<home>/lib64`` of :func:`cuda_homes` holding libcudart.so, or None."""
    for home in cuda_homes():
        if os.path.exists(os.path.join(home, 'lib64', 'libcudart.so')):
            return os.path.join(home, 'lib64')
    return None
