"""The GPU check itself, where a GPU is visible (skipped otherwise, with the reason): the
standalone check (nvcc + ctypes) on the edge-case inputs -- or on $GPU_CHECK_INPUTS, e.g.
the full COCO-size npz -- and, where MXNet has CUDA, the same cases through mx.gpu(0)."""
import os
import shutil

import pytest

import tools_path  # noqa: F401
import gpu_check
from gpu_check_lib import native

GPU, WHY = native.detect_gpu()
pytestmark = pytest.mark.skipif(GPU is None, reason='no GPU: %s' % WHY)
EDGE_CASES = 'psroi_edge,chan_edge,chan_flat,mean_edge,nms_ties,nms_one,nms_block,vote'


@pytest.fixture(scope='module')
def inputs(tmp_path_factory):
    if os.environ.get('GPU_CHECK_INPUTS'):
        return os.environ['GPU_CHECK_INPUTS']
    pytest.importorskip('mxnet', reason='no MXNet to make inputs; set GPU_CHECK_INPUTS')
    path = str(tmp_path_factory.mktemp('gpu_check') / 'inputs.npz')
    assert gpu_check.main(['make-inputs', '--out', path, '--only', EDGE_CASES]) == 0
    return path


@pytest.mark.skipif(shutil.which('nvcc') is None, reason='nvcc is not on the PATH')
def test_every_kernel_matches_the_cpu_results(inputs, tmp_path):
    assert gpu_check.main(['run', '--inputs', inputs, '--out', str(tmp_path / 'r.json'),
                           '--repeats', '3']) == gpu_check.EXIT_PASS


def test_mxnet_gpu_ops_match_the_cpu_results(inputs, tmp_path):
    mx = pytest.importorskip('mxnet', reason='no MXNet')
    if mx.context.num_gpus() == 0:
        pytest.skip('MXNet has no GPU (CPU wheel)')
    assert gpu_check.main(['run-mxnet', '--inputs', inputs, '--out', str(tmp_path / 'r.json'),
                           '--repeats', '3']) == gpu_check.EXIT_PASS
