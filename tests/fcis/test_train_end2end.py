"""End-to-end training (fcis/train_end2end.py and its launcher) on a tiny generated shapes set
on the CPU: overrides reach the model, the losses fall, an interrupted run resumes to the
same parameters and optimizer states as an uninterrupted one, a NaN loss stops cleanly, and
a missing or corrupt checkpoint is a one-line error naming the file.

Determinism: every epoch reseeds all generators from (seed, epoch) and the loader draws all
its randomness from (seed, epoch, batch), so two runs of the same config give bit-identical
parameters with either MXNet engine (the custom operators use the global NumPy generator,
one at a time and in graph order, in the training thread or MXNet's custom-op thread), provided
both use the same thread settings: a different OMP_NUM_THREADS changes the rounding of the
multithreaded reductions and the runs drift apart. BatchNorm's backward updates the moving
mean/var without MXNet's engine knowing, so fit waits for all pending work before saving a
checkpoint (one saved earlier could miss the last batch's update). These tests run with the
OMP_NUM_THREADS of the test process.
"""
import importlib.util
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time

import mxnet as mx
import numpy as np
import pytest
import yaml

import fcis.core.module as fcis_module
from fcis.cli import run_main
from fcis.config import load_config
from fcis.core.callback import NonFiniteLossError, read_metrics
from fcis.core.checkpoint import load_training_state
from fcis.core.loader import TrainLoader
from fcis.core.run import train_output_dir
from fcis.train_end2end import train_net
from lib.utils.checkpoint import CheckpointError, checkpoint_paths, find_last_checkpoint

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
CFG = os.path.join(ROOT, 'experiments', 'fcis', 'cfgs', 'shapes_fcis_end2end.yaml')
LAUNCHER = os.path.join(ROOT, 'experiments', 'fcis', 'fcis_end2end_train_test.py')
PREFIX = 'e2e'
NUM_TRAIN = 4          # 8 batches per epoch with the flipped copies
TOL = 1e-5
RESUME_RUN = ('TRAIN.lr_step=1.5',)   # the lr step falls inside epoch 2 (update 12 of 16)


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    """Folder of the tiny shapes set (generated on first use) and its annotation cache."""
    return str(tmp_path_factory.mktemp('shapes_data'))


def overrides(data_root, output_path, *extra):
    """Command-line overrides of a tiny, fast run (128-pixel images with anchors and flips to
    match, a log line per batch; fixed OpenMP threads, so that the bit comparisons do not
    depend on other processes; one training process unless ``extra`` says otherwise)."""
    return ['output_path=%s' % output_path, 'default.ADAPT_THREADS=false',
            'default.LOCAL_WORKERS=1',
            'dataset.root_path=%s' % data_root,
            'dataset.dataset_path=%s' % os.path.join(data_root, 'shapes'),
            'dataset.num_train_images=%d' % NUM_TRAIN, 'dataset.num_val_images=2',
            'SCALES=[[128, 160]]', 'network.ANCHOR_SCALES=[2,4,8]', 'TRAIN.FLIP=true',
            'default.frequent=1', 'TRAIN.warmup_step=4'] + list(extra)


def train(data_root, output_path, *extra):
    """train_net on the tiny config; returns the output folder."""
    return train_net(load_config(CFG, overrides(data_root, output_path, *extra)))


def run_launcher(argv):
    """experiments/fcis/fcis_end2end_train_test.py as its __main__ runs it, in this process."""
    spec = importlib.util.spec_from_file_location('fcis_end2end_train_test', LAUNCHER)
    launcher = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(launcher)
    return run_main(launcher.main, argv)


def load_params_file(directory, epoch):
    return {k: v.asnumpy() for k, v in mx.nd.load(checkpoint_paths(directory, PREFIX, epoch)['params']).items()}


def load_states_file(directory, epoch):
    """Optimizer states of a checkpoint: {parameter index: momentum (NumPy) or None}."""
    with open(checkpoint_paths(directory, PREFIX, epoch)['states'], 'rb') as f:
        states = pickle.loads(f.read())
    return {k: (None if v is None else v.asnumpy()) for k, v in states.items()}


def max_difference(a, b):
    """Largest |a - b| over dicts of arrays with the same keys (None entries must match)."""
    assert sorted(a) == sorted(b)
    worst = 0.0
    for key in a:
        if a[key] is None or b[key] is None:
            assert a[key] is None and b[key] is None, key
            continue
        assert a[key].shape == b[key].shape, key
        worst = max(worst, float(np.abs(a[key] - b[key]).max()))
    return worst


def batch_records(directory):
    """(epoch, batch, num_update, lr, metrics) of every per-batch line of metrics.jsonl."""
    return [(r['epoch'], r['batch'], r['num_update'], r['lr'], r['metrics'])
            for r in read_metrics(os.path.join(directory, 'metrics.jsonl')) if r['type'] == 'batch']


# ---- (1) overrides reach the model ---------------------------------------------------------
def test_command_line_overrides_reach_the_model(data_root, tmp_path, monkeypatch):
    defaults = load_config(CFG)
    assert defaults.TRAIN.BATCH_ROIS != 16 and len(defaults.network.ANCHOR_SCALES) != 1
    seen = []
    original = mx.mod.Module.update_metric

    def update_metric(self, eval_metric, labels, pre_sliced=False):
        seen.append([o.shape for o in self.get_outputs()])
        return original(self, eval_metric, labels, pre_sliced)
    monkeypatch.setattr(mx.mod.Module, 'update_metric', update_metric)
    run_launcher(['--cfg', CFG, '--skip-test'] + overrides(
        data_root, str(tmp_path), 'TRAIN.end_epoch=1', 'TRAIN.BATCH_ROIS=16',
        'network.ANCHOR_SCALES=[4]', 'network.ANCHOR_RATIOS=[1]'))

    out = os.path.join(str(tmp_path), 'shapes_fcis_end2end', 'train')
    assert len(seen) == 2 * NUM_TRAIN                   # one epoch, every batch
    for shapes in seen:
        rpn_cls_prob, rpn_bbox_loss, cls_prob, bbox_loss, seg_prob = shapes[:5]
        assert rpn_bbox_loss[1] == 4 * 1                       # (N, 4A, fh, fw) with A = 1
        assert rpn_cls_prob[1:3] == (2, rpn_bbox_loss[2])      # (N, 2, A*fh, fw)
        assert cls_prob == (16, defaults.dataset.NUM_CLASSES)   # BATCH_ROIS ROIs per image
        assert bbox_loss[0] == 16 and seg_prob[0] == 16
    params = load_params_file(out, 1)
    assert params['arg:rpn_cls_score_weight'].shape[0] == 2 * 1   # 2 x (1 scale x 1 ratio)
    assert params['arg:rpn_bbox_pred_weight'].shape[0] == 4 * 1
    with open(os.path.join(out, 'config.yaml')) as f:
        saved = yaml.safe_load(f)
    assert saved['TRAIN']['BATCH_ROIS'] == 16 and saved['network']['NUM_ANCHORS'] == 1


# ---- (2) a short run learns ---------------------------------------------------------------
LOSSES = ('RPNLogLoss', 'RPNL1Loss', 'FCISLogLoss', 'FCISMaskLoss')


def test_short_shapes_run_lowers_every_loss(data_root, tmp_path):
    """208 updates (26 epochs of 8 images); metrics logged once per epoch.

    FCISL1Loss starts artificially low: the ground-truth boxes are always among the sampled
    ROIs and their regression target is 0, and at first they are nearly the only
    foreground ROIs. It rises while the RPN learns to propose boxes near the objects
    (non-zero targets), then falls; it is compared with its peak.
    """
    out = train(data_root, str(tmp_path), 'TRAIN.end_epoch=26', 'TRAIN.lr=0.02',
                'TRAIN.lr_step=100', 'TRAIN.warmup_step=20', 'TRAIN.BATCH_ROIS=32',
                'TRAIN.FG_FRACTION=0.5', 'default.frequent=%d' % (2 * NUM_TRAIN))
    records = [r for r in read_metrics(os.path.join(out, 'metrics.jsonl')) if r['type'] == 'batch']
    assert len(records) == 26

    def window(name, part):
        return np.mean([r['metrics'][name] for r in part])
    first, last = records[:3], records[-3:]
    for name in LOSSES:
        assert window(name, last) < 0.7 * window(name, first), name
    l1 = [r['metrics']['FCISL1Loss'] for r in records]
    peak = max(np.mean(l1[i:i + 3]) for i in range(len(l1) - 2))
    assert window('FCISL1Loss', last) < 0.8 * peak
    assert window('FCISAccFG', last) > window('FCISAccFG', first) + 0.2
    assert os.path.isfile(os.path.join(out, 'loss_curves.png'))


# ---- (3) exact resume ---------------------------------------------------------------------
@pytest.fixture(scope='module')
def uninterrupted(data_root, tmp_path_factory):
    """Output folder of an uninterrupted 2-epoch run."""
    return train(data_root, str(tmp_path_factory.mktemp('run_a')), 'TRAIN.end_epoch=2',
                 *RESUME_RUN)


def assert_same_run(reference, resumed):
    """Same final parameters, optimizer states and per-batch log as the reference run."""
    assert find_last_checkpoint(resumed, PREFIX) == 2
    assert max_difference(load_params_file(reference, 2), load_params_file(resumed, 2)) <= TOL
    assert max_difference(load_states_file(reference, 2), load_states_file(resumed, 2)) <= TOL
    ref_log, log = batch_records(reference), batch_records(resumed)
    assert [r[:4] for r in log] == [r[:4] for r in ref_log]     # same batches, counts and lr
    for (_, _, _, _, m), (_, _, _, _, ref_m) in zip(log, ref_log):
        assert m == pytest.approx(ref_m, rel=1e-4, abs=1e-6)


def test_resume_matches_an_uninterrupted_run(data_root, tmp_path, uninterrupted, monkeypatch):
    first = train(data_root, str(tmp_path / 'b'), 'TRAIN.end_epoch=1', *RESUME_RUN)
    spares = [str(tmp_path / name) for name in ('c', 'd')]
    for spare in spares:
        shutil.copytree(first, os.path.join(spare, 'shapes_fcis_end2end', 'train'))
    momentum = load_states_file(first, 1)
    assert any(v is not None and np.abs(v).max() > 0 for v in momentum.values())

    run_launcher(['--cfg', CFG, '--skip-test', '--resume'] +
                 overrides(data_root, str(tmp_path / 'b'), 'TRAIN.end_epoch=2', *RESUME_RUN))
    assert_same_run(uninterrupted, first)
    assert max_difference(load_states_file(first, 1), momentum) == 0   # checkpoint 1 untouched

    # the comparison is sensitive: resuming without TrainLoader.set_epoch (epoch 0's batch
    # order again) or without the momentum gives other parameters
    with monkeypatch.context() as patch:
        patch.delattr(TrainLoader, 'set_epoch')
        other = train(data_root, spares[0], 'TRAIN.end_epoch=2', 'TRAIN.RESUME=True', *RESUME_RUN)
    assert max_difference(load_params_file(uninterrupted, 2), load_params_file(other, 2)) > 1e-3
    monkeypatch.setattr(fcis_module, 'restore_optimizer_states', lambda module, path: None)
    other = train(data_root, spares[1], 'TRAIN.end_epoch=2', 'TRAIN.RESUME=True', *RESUME_RUN)
    assert max_difference(load_params_file(uninterrupted, 2), load_params_file(other, 2)) > 1e-3


@pytest.mark.parametrize('update', ['sum', 'each'])
def test_local_workers_resume_matches_an_uninterrupted_run(data_root, tmp_path, update):
    """Two worker processes (default.LOCAL_WORKERS=2): two epochs straight, and one epoch
    then a resume, end with the same parameters, BatchNorm statistics, momentum and log."""
    workers = RESUME_RUN + ('default.LOCAL_WORKERS=2', 'default.LOCAL_UPDATE=' + update)
    straight = train(data_root, str(tmp_path / 'a'), 'TRAIN.end_epoch=2', *workers)
    resumed = train(data_root, str(tmp_path / 'b'), 'TRAIN.end_epoch=1', *workers)
    records = batch_records(resumed)
    assert len(records) == NUM_TRAIN                  # 8 images, 2 a batch
    assert records[-1][2] == NUM_TRAIN * (2 if update == 'each' else 1)   # updates done
    train(data_root, str(tmp_path / 'b'), 'TRAIN.end_epoch=2', 'TRAIN.RESUME=True', *workers)
    assert_same_run(straight, resumed)
    assert os.path.isfile(os.path.join(resumed, 'train.worker1.log'))


TRAIN_RUN = """
import sys
import lib
from fcis.config import load_config
from fcis.train_end2end import train_net
train_net(load_config(sys.argv[1], sys.argv[2:]))
"""


def start(argv):
    """A Python subprocess of ``argv`` in the repository, with this process's environment."""
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.Popen([sys.executable] + argv, cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def finish(proc, timeout=600):
    _, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err.decode()[-2000:]


def test_run_killed_in_its_second_epoch_resumes_exactly(data_root, tmp_path):
    """SIGKILL right after the epoch-1 checkpoint (mid-epoch 2), resume with the launcher.

    All three runs are subprocesses with the same environment: results are bit-identical
    only for the same thread settings (OMP_NUM_THREADS, and whether MXNet was loaded before
    ``lib`` set it), which this pytest process may not share with its children.
    """
    reference = start(['-c', TRAIN_RUN, CFG] + overrides(
        data_root, str(tmp_path / 'a'), 'TRAIN.end_epoch=2', *RESUME_RUN))
    output_path = str(tmp_path / 'b')
    out = os.path.join(output_path, 'shapes_fcis_end2end', 'train')
    manifest_1 = checkpoint_paths(out, PREFIX, 1)['manifest']
    killed = start(['-c', TRAIN_RUN, CFG] + overrides(
        data_root, output_path, 'TRAIN.end_epoch=3', *RESUME_RUN))
    try:
        deadline = time.time() + 300
        while not os.path.exists(manifest_1) and killed.poll() is None and time.time() < deadline:
            time.sleep(0.005)
        assert os.path.exists(manifest_1), 'the run ended or timed out before checkpoint 1'
        os.kill(killed.pid, signal.SIGKILL)
    finally:
        if killed.poll() is None:
            killed.kill()
        killed.communicate()
    assert killed.returncode == -signal.SIGKILL
    assert find_last_checkpoint(out, PREFIX) == 1, 'killed too late: epoch 2 was complete'
    with open(os.path.join(out, 'metrics.jsonl'), 'a') as f:
        f.write('{"type": "batch", "epoch": 1, "batch": 1, "num_update": 9, "lr": 0, '
                '"metrics": {}}\n')    # a line of the killed epoch, if it had not logged yet

    finish(start([LAUNCHER, '--cfg', CFG, '--skip-test', '--resume'] + overrides(
        data_root, output_path, 'TRAIN.end_epoch=2', *RESUME_RUN)))
    finish(reference)
    assert_same_run(os.path.join(str(tmp_path / 'a'), 'shapes_fcis_end2end', 'train'), out)


# ---- (4) NaN stops training ---------------------------------------------------------------
METRICS = ('RPNLogLoss', 'RPNL1Loss', 'FCISLogLoss', 'FCISL1Loss', 'FCISMaskLoss', 'RPNAcc',
           'FCISAcc', 'FCISAccFG')


def resume_copy(uninterrupted, tmp_path):
    """A copy of the uninterrupted run without its epoch-2 checkpoint; returns its folder."""
    out = os.path.join(str(tmp_path), 'shapes_fcis_end2end', 'train')
    shutil.copytree(uninterrupted, out)
    for path in checkpoint_paths(out, PREFIX, 2).values():
        os.remove(path)
    return out


def checkpoint_bytes(out, epoch):
    return {k: open(p, 'rb').read() for k, p in checkpoint_paths(out, PREFIX, epoch).items()}


def assert_checkpoint_1_intact(out, before):
    assert find_last_checkpoint(out, PREFIX) == 1
    assert checkpoint_bytes(out, 1) == before
    state = load_training_state(out, PREFIX)
    assert state.epoch == 1 and state.num_update == 2 * NUM_TRAIN
    assert all(np.isfinite(v.asnumpy()).all() for v in state.arg_params.values())


def test_nan_loss_stops_with_batch_and_metric_and_keeps_the_checkpoint(data_root, tmp_path,
                                                                        uninterrupted,
                                                                        monkeypatch):
    """A NaN RPN box target in batch 3 of epoch 2 (0-based epoch 1): RPNL1Loss is NaN."""
    out = resume_copy(uninterrupted, tmp_path)
    before = checkpoint_bytes(out, 1)
    make_batch = TrainLoader.make_batch

    def poisoned(self, job):
        batch = make_batch(self, job)
        if (batch['epoch'], batch['index']) == (1, 2):
            batch['bbox_target'][batch['bbox_weight'] > 0] = np.nan   # every anchor with a loss
        return batch
    monkeypatch.setattr(TrainLoader, 'make_batch', poisoned)
    with pytest.raises(SystemExit) as exit_info:
        run_launcher(['--cfg', CFG, '--skip-test', '--resume'] +
                     overrides(data_root, str(tmp_path), 'TRAIN.end_epoch=2', *RESUME_RUN))
    message = str(exit_info.value.code)
    assert '\n' not in message
    assert message.startswith('error: non-finite training value at epoch 1 batch 3: '
                              'RPNL1Loss=nan; training stopped')
    with open(os.path.join(out, 'train.log')) as f:
        assert message[len('error: '):] in f.read()
    assert_checkpoint_1_intact(out, before)


def test_diverging_run_stops_naming_the_batch_and_what_went_non_finite(data_root, tmp_path,
                                                                       uninterrupted):
    """lr=1e5: either a metric becomes NaN/inf, or the parameters do first (then an operator,
    the proposal NMS, fails on NaN boxes); which one depends on the thread settings."""
    out = resume_copy(uninterrupted, tmp_path)
    before = checkpoint_bytes(out, 1)
    with pytest.raises(NonFiniteLossError) as error:
        train(data_root, str(tmp_path), 'TRAIN.end_epoch=2', 'TRAIN.RESUME=True',
              'TRAIN.lr=1e5', 'TRAIN.warmup=False')
    assert error.value.epoch == 1 and 1 <= error.value.nbatch <= 2 * NUM_TRAIN
    assert 'epoch 1 batch %d: ' % error.value.nbatch in str(error.value)
    for name, value in error.value.bad:
        assert name in METRICS or name.startswith('parameter '), name
        assert not np.isfinite(float(value))
    assert_checkpoint_1_intact(out, before)


# ---- (5) missing or corrupt checkpoints ---------------------------------------------------
def resume_error(data_root, output_path):
    with pytest.raises(SystemExit) as exit_info:
        run_launcher(['--cfg', CFG, '--skip-test', '--resume'] +
                     overrides(data_root, output_path, 'TRAIN.end_epoch=3'))
    message = str(exit_info.value.code)
    assert message.startswith('error: ') and '\n' not in message
    return message


def test_missing_or_corrupt_checkpoint_is_a_clear_error(data_root, tmp_path, uninterrupted):
    output_path = str(tmp_path)
    out = train_output_dir(load_config(CFG, overrides(data_root, output_path)))
    message = resume_error(data_root, output_path)            # nothing to resume from
    assert 'no complete checkpoint' in message and out in message

    shutil.copytree(uninterrupted, out, dirs_exist_ok=True)
    paths = checkpoint_paths(out, PREFIX, 2)
    with open(paths['params'], 'r+b') as f:                   # one flipped byte
        f.seek(os.path.getsize(paths['params']) // 2)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0xFF]))
    message = resume_error(data_root, output_path)
    assert paths['params'] in message and 'corrupt' in message

    os.remove(paths['params'])
    message = resume_error(data_root, output_path)
    assert paths['params'] in message and 'missing' in message

    with open(paths['manifest'], 'w') as f:
        f.write('{"files": ')                                 # truncated manifest
    message = resume_error(data_root, output_path)
    assert paths['manifest'] in message and 'corrupt' in message
    with pytest.raises(CheckpointError):
        load_training_state(out, PREFIX)
