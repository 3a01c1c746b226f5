"""gpu_check.py without a GPU: the harness compiles with nvcc and links (one module-scoped
build for sm_90, ~9 s), `run` reports "skipped: no GPU" with exit code 3, and the run's
Python side -- with a CPU stand-in answering the harness's calls -- passes on correct
results and fails on a single altered element of any kernel's output."""
import ctypes
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip('mxnet', reason='making the inputs needs MXNet (CPU side)')
import tools_path
import gpu_check
from fake_harness import FakeHarness
from gpu_check_lib import native
from gpu_check_lib.voting_cases import VOTING_CASES
from gpu_check_lib.voting_soft_cases import SOFT_CASES

NO_GPU = native.detect_gpu()[0] is None
CASES = 'psroi_edge,chan_edge,chan_flat,mean_edge,nms_ties,nms_block_65,vote'


@pytest.fixture(scope='module')
def inputs(tmp_path_factory):
    path = str(tmp_path_factory.mktemp('gpu_check') / 'inputs.npz')
    assert gpu_check.main(['make-inputs', '--out', path, '--only', CASES]) == 0
    return path


@pytest.fixture(scope='module')
def library(tmp_path_factory):
    if shutil.which('nvcc') is None:
        pytest.skip('nvcc is not on the PATH')
    path, seconds, cached = native.build(['90'], str(tmp_path_factory.mktemp('build')),
                                         log=lambda *_: None)
    assert not cached and os.path.getsize(path) > 0
    return path


def test_harness_links_and_exports_every_entry_point(library):
    lib = ctypes.CDLL(library)
    for name in ('gc_psroi', 'gc_channel_op', 'gc_spatial_mean', 'gc_timer_start',
                 'gc_timer_stop', 'gc_device_info', 'fcis_gpu_nms', 'fcis_gpu_vote_region',
                 'fcis_gpu_vote_soft'):
        assert hasattr(lib, name), name
    assert native.build(['90'], os.path.dirname(os.path.dirname(library)))[2]  # cached


def test_harness_declares_the_vote_entry_points_to_ctypes(library):
    harness = native.Harness(library)
    out = np.zeros(4)
    ints = [ctypes.c_int(1)] * 3
    with pytest.raises(TypeError, match='at least 18 arguments'):  # device_id left out
        harness.call('fcis_gpu_vote_soft', out.ctypes.data_as(ctypes.c_void_p), None, *ints,
                     None, None, None, *[ctypes.c_int(0)] * 5, ctypes.c_float(0.4),
                     ctypes.c_int(1))
    with pytest.raises(ctypes.ArgumentError):  # a C float where num_masks (int) goes
        harness.call('fcis_gpu_vote_region', out.ctypes.data_as(ctypes.c_void_p), None,
                     ctypes.c_float(1), *[ctypes.c_int(0)] * 12, ctypes.c_int(0))


@pytest.mark.skipif(not NO_GPU, reason='a GPU is visible; this checks the no-GPU path')
def test_harness_call_without_gpu_raises_one_line_cuda_error(library):
    with pytest.raises(RuntimeError, match=r'^gpu_check: cudaGetDeviceCount: [^\n]+$'):
        native.Harness(library).device_info()


def test_arch_choice_and_flags():
    assert native.choose_archs('sm_80, 90') == ['80', '90']
    if NO_GPU:
        assert native.choose_archs() == list(native.FALLBACK_ARCHS)
    assert native.arch_flags(['native']) == ['-arch=native']
    assert native.arch_flags(['80', '90'])[-1] == '-gencode=arch=compute_90,code=compute_90'


@pytest.mark.skipif(not NO_GPU, reason='a GPU is visible; this checks the no-GPU path')
def test_run_without_gpu_skips_with_exit_code_3(inputs, tmp_path):
    out = tmp_path / 'result.json'
    proc = subprocess.run([sys.executable, tools_path.GPU_CHECK, 'run', '--inputs', inputs,
                           '--out', str(out)], capture_output=True, text=True)
    assert proc.returncode == gpu_check.EXIT_SKIPPED == 3, proc.stderr
    assert proc.stdout.startswith('skipped: no GPU') and proc.stdout.count('\n') == 1
    assert json.loads(out.read_text())['status'] == 'skipped'


def run_with(harness, inputs):
    with np.load(inputs) as npz:
        return gpu_check.run_cases(harness, npz, dict(warmup=1, repeats=2))


def test_run_side_passes_when_the_kernels_give_the_cpu_results(inputs):
    rows = run_with(FakeHarness(), inputs)
    assert rows and all(r['ok'] for r in rows), [r for r in rows if not r['ok']]
    names = {r['case'] for r in rows}
    for op in ('Group_Max', 'Group_Softmax', 'Label_Pick', 'Score_Pick'):
        assert 'chan_edge %s backward' % op in names
    assert {'mean_edge forward', 'mean_edge backward'} <= names
    assert [r['case'] for r in rows[-len(SOFT_CASES):]] == list(SOFT_CASES)  # release last
    assert [r['case'] for r in rows[-len(SOFT_CASES) - len(VOTING_CASES):-len(SOFT_CASES)]] \
        == list(VOTING_CASES)  # mask voting after the other kernels
    timed = {r['case']: r['runs'] for r in rows if r['case'] in SOFT_CASES}
    assert timed == {name: 2 if a['timed'] else 0 for name, a in SOFT_CASES.items()}


@pytest.mark.parametrize('entry, prefix', [('gc_psroi', 'psroi_edge'),
                                           ('gc_channel_op', 'chan_'),
                                           ('gc_spatial_mean', 'mean_edge'),
                                           ('fcis_gpu_nms', 'nms_'),
                                           ('fcis_gpu_vote_region', tuple(VOTING_CASES)),
                                           ('fcis_gpu_vote_soft', 'vote_release_')])
def test_run_side_fails_on_one_altered_element(inputs, entry, prefix):
    rows = run_with(FakeHarness(corrupt=entry), inputs)
    failed = [r['case'] for r in rows if not r['ok']]
    assert failed and all(name.startswith(prefix) for name in failed), failed


def test_one_altered_soft_vote_sum_fails_its_case(inputs):
    # every soft-vote call's first sum moved by 1: each case fails, on one element, and the
    # other kernels' cases (the roi mode's votes included) still pass
    rows = {r['case']: r for r in run_with(FakeHarness(corrupt='fcis_gpu_vote_soft'), inputs)}
    assert {name for name, r in rows.items() if not r['ok']} == set(SOFT_CASES)
    assert all(' 1 of all ' in rows[name]['detail'] for name in SOFT_CASES)
