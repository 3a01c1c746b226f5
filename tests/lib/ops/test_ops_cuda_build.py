"""The CUDA sources compile with nvcc and link with the GPU-registering C++ sources.

No GPU is needed: nvcc compiles the kernels; the library built as setup.py builds it with
CUDA (MXNET_FCIS_WITH_CUDA, linked with g++ against libcudart) is then loaded into the CPU
MXNet in a subprocess and its CPU path is run. Skipped without nvcc. The .cu files do not
include mxnet/lib_api.h, so the cuRAND headers lib_api.h wants under nvcc are not needed.
"""
import os
import shutil
import subprocess
import sys

import pytest

import setup

NVCC = shutil.which('nvcc')
pytestmark = pytest.mark.skipif(NVCC is None, reason='nvcc is not on the PATH')
OPS_INCLUDE = os.path.join(setup.ROOT, 'lib', 'ops')


def compile_cuda(source, obj):
    cmd = [NVCC, '-std=c++14', '-arch=sm_80', '-Xcompiler', '-fPIC', '-I' + OPS_INCLUDE,
           '-DMXNET_FCIS_WITH_CUDA', '-c', os.path.join(setup.ROOT, source), '-o', obj]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0, 'nvcc failed on %s:\n%s' % (source, result.stderr)


@pytest.mark.parametrize('source', setup.OPERATOR_LIBRARY['cuda_sources'])
def test_cuda_source_compiles(source, tmp_path):
    compile_cuda(source, str(tmp_path / 'kernel.o'))


def test_cuda_enabled_library_links_and_loads(tmp_path):
    mx_dir = setup.mxnet_dir()
    objects = []
    for source in setup.OPERATOR_LIBRARY['cuda_sources']:
        objects.append(str(tmp_path / (os.path.basename(source) + '.o')))
        compile_cuda(source, objects[-1])
    cpu_sources = [os.path.join(mx_dir, 'src', 'lib_api.cc')] + [
        os.path.join(setup.ROOT, s) for s in setup.OPERATOR_LIBRARY['cpu_sources']]
    for source in cpu_sources:
        objects.append(str(tmp_path / (os.path.basename(source) + '.o')))
        cmd = ['g++', '-std=c++17', '-O0', '-fPIC', '-fopenmp', '-DMXNET_FCIS_WITH_CUDA',
               '-I' + os.path.join(mx_dir, 'include'), '-I' + OPS_INCLUDE, '-c', source,
               '-o', objects[-1]]
        result = subprocess.run(cmd, capture_output=True, text=True)
        assert result.returncode == 0, 'g++ failed on %s:\n%s' % (source, result.stderr)
    library = str(tmp_path / 'libfcis_ops_cuda.so')
    cuda_dirs = setup.cuda_library_dirs()
    if not cuda_dirs:
        pytest.skip('no libcudart.so next to nvcc or in CUDA_HOME')
    link = (['g++', '-shared', '-fopenmp', '-Wl,--no-undefined', '-o', library] + objects +
            ['-L' + d for d in cuda_dirs] + ['-lcudart'])
    result = subprocess.run(link, capture_output=True, text=True)
    assert result.returncode == 0, 'link failed:\n%s' % result.stderr
    check = ('import lib, mxnet as mx; mx.library.load(%r, verbose=False); '
             'out = mx.nd.PSROIPooling(mx.nd.ones((1, 8, 4, 4)), mx.nd.array([[0, 0, 0, 30, 30]]),'
             ' spatial_scale=0.125, output_dim=2, pooled_size=2); '
             'assert out.asnumpy().tolist() == [[[[1, 1], [1, 1]], [[1, 1], [1, 1]]]]' % library)
    env = dict(os.environ, OMP_NUM_THREADS='1',
               LD_LIBRARY_PATH=os.pathsep.join(cuda_dirs + [os.environ.get('LD_LIBRARY_PATH', '')]))
    result = subprocess.run([sys.executable, '-c', check], capture_output=True, text=True,
                            env=env)
    assert result.returncode == 0, 'the CUDA-enabled library does not load:\n%s' % result.stderr
