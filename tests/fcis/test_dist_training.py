"""Data-parallel training of the real FCIS symbol (small shapes trunk, tiny images).

1. One process, two CPU contexts: one fit() step equals a NumPy SGD step on the gradients of
   the same two images computed one after the other on one context and summed.
2. Two local worker processes and one server (dist_sync, experiments/fcis/tools/launch_dist.py,
   127.0.0.1) train the shapes config through the real command line for a few updates: both
   workers end with identical parameters, equal to a one-process run with two CPU contexts
   over the same images in the same order; worker 0 alone writes checkpoint and metrics.
   (This file is also the worker: ``python test_dist_training.py worker DUMP -- ARGS``.)
3. The same with two processes of one command (``default.LOCAL_WORKERS=2``, gradients summed
   through shared memory), and a worker that fails (either rank) ends the command with its
   one-line error.

Random ROI choices: the proposal op (padding to post_nms_top_n) and the proposal-target op
(ROI sampling) draw from NumPy's global generator; with two devices the draws of the two
images interleave in an order the engine picks, and separate worker processes each have
their own generator. Every run here replaces those two draws by a deterministic function of
what is drawn from (:func:`deterministic_sampling`), so all runs make the same choices and the
comparisons isolate the data-parallel arithmetic. The RPN anchor labels come with the batch
from the loader (test 2 turns anchor subsampling off: a worker draws its image's anchors
from the batch seed, the one-process run draws the second image's after the first's), and
test 2 pads every image to 96x96 (IMAGE_STRIDE) so a worker's lone image is padded exactly
as in the two-image batch.
"""
import json
import logging
import os
import runpy
import sys
import zlib

import lib  # noqa: F401  (prepares numpy for MXNet: this file also runs as a worker script)
import mxnet as mx
import numpy as np

import fcis.operators.proposal as proposal
import fcis.operators.proposal_target as proposal_target
from fcis.cli import run_main
from fcis.config import load_config
from fcis.config.symbol_args import network_args
from fcis.core.fit_args import EpochArgs, FitArgs, OptimArgs
from fcis.core.module import fit
from fcis.core.params import FCISInitializer, load_params
from fcis.symbols import TRAIN_DATA_NAMES, TRAIN_LABEL_NAMES, get_train_symbol
import fcis.train_end2end as train_end2end
from fcis.train_end2end import make_train_loader, train_roidb
from bounded_run import run_bounded

ROOT = os.path.join(os.path.dirname(__file__), '..', '..')
SHAPES = os.path.join(ROOT, 'experiments', 'fcis', 'cfgs', 'shapes_fcis_end2end.yaml')
LAUNCHER = os.path.join(ROOT, 'experiments', 'fcis', 'tools', 'launch_dist.py')
TRAIN_TEST = os.path.join(ROOT, 'experiments', 'fcis', 'fcis_end2end_train_test.py')
LR, MOMENTUM, WD = 0.01, 0.9, 0.001
DUMP_ENV = 'FCIS_TEST_DUMP_DIR'      # worker_main's dump folder, for its spawned workers
FAIL_ENV = 'FCIS_TEST_FAIL_RANK'     # recording_fit raises in the worker of this rank


def content_rng(values, count):
    """A RandomState seeded by an int array and a count (same inputs, same draws)."""
    return np.random.RandomState(zlib.crc32(np.asarray(values, np.int64).tobytes()) ^ count)


def content_draw(pool, count, replace):
    """Deterministic stand-in for proposal_target._draw (same contract)."""
    if count <= 0:
        return pool[:0]
    if not replace and count >= pool.size:
        return pool
    return content_rng(pool, count).choice(pool, size=count, replace=replace)


def content_pad_indices(keep, size):
    """Deterministic stand-in for proposal.pad_indices (same contract)."""
    keep = np.asarray(keep, dtype=np.int64)
    if keep.size >= size:
        return keep[:size]
    extra = content_rng(keep, size).choice(keep, size=size - keep.size, replace=True)
    return np.concatenate([keep, extra])


def deterministic_sampling(setattr_fn):
    """Install the two stand-ins with ``setattr_fn`` (monkeypatch.setattr or setattr)."""
    setattr_fn(proposal_target, '_draw', content_draw)
    setattr_fn(proposal, 'pad_indices', content_pad_indices)


def tiny_config(root):
    return load_config(SHAPES, [
        'dataset.root_path=%s' % root, 'dataset.dataset_path=%s' % os.path.join(root, 'shapes'),
        'dataset.num_train_images=2', 'dataset.num_val_images=1', 'SCALES=[[64, 96]]',
        'TRAIN.FLIP=False', 'TRAIN.SHUFFLE=False', 'TRAIN.ASPECT_GROUPING=False'])


def multipliers(symbol, name):
    """(lr_mult, wd_mult) of a parameter as FCISSGD applies them by default (wd on *_weight
    and *_gamma only)."""
    attr = symbol.attr_dict().get(name, {})
    lr_mult = float(attr.get('__lr_mult__', attr.get('lr_mult', 1.0)))
    default_wd = 1.0 if name.endswith(('_weight', '_gamma')) else 0.0
    return lr_mult, float(attr.get('__wd_mult__', attr.get('wd_mult', default_wd)))


def per_image_gradients(symbol, batch, arg_params, aux_params):
    """[{name: gradient}] of each image of ``batch`` run alone on one context."""
    grads = []
    for i in range(batch.data[0].shape[0]):
        data = [a[i:i + 1] for a in batch.data]          # (1, ...) slice of image i
        label = [a[i:i + 1] for a in batch.label]
        mod = mx.mod.Module(symbol, data_names=TRAIN_DATA_NAMES, label_names=TRAIN_LABEL_NAMES,
                            context=mx.cpu(0), logger=logging.getLogger('test'))
        mod.bind(data_shapes=list(zip(TRAIN_DATA_NAMES, [d.shape for d in data])),
                 label_shapes=list(zip(TRAIN_LABEL_NAMES, [l.shape for l in label])))
        mod.init_params(arg_params=arg_params, aux_params=aux_params)
        mod.forward_backward(mx.io.DataBatch(data, label))
        group = mod._exec_group
        grads.append({n: g[0].asnumpy() for n, g in zip(group.param_names, group.grad_arrays)
                      if g[0] is not None})
    return grads


def test_two_contexts_sum_gradients_like_one_context_sequentially(tmp_path, monkeypatch):
    deterministic_sampling(monkeypatch.setattr)
    cfg = tiny_config(str(tmp_path))
    roidb = train_roidb(cfg)
    assert len(roidb) == 2
    symbol = get_train_symbol(network_args(cfg, is_train=True))
    contexts = [mx.cpu(0), mx.cpu(1)]
    train_iter = make_train_loader(cfg, symbol, contexts, roidb)
    reference_iter = make_train_loader(cfg, symbol, contexts, roidb)
    try:
        assert train_iter.num_batches == 1
        shapes = dict(train_iter.provide_data + train_iter.provide_label)
        mx.random.seed(0)
        np.random.seed(0)
        arg_params, aux_params = load_params(symbol, shapes, initializer=FCISInitializer())
        before = {n: a.asnumpy() for n, a in arg_params.items()}

        module = fit(symbol, train_iter, contexts, arg_params, aux_params, FitArgs(
            optim=OptimArgs(lr=LR, momentum=MOMENTUM, wd=WD, rescale_grad=1.0),
            epochs=EpochArgs(end_epoch=1, seed=cfg.seed), kvstore='device'),
            logger=logging.getLogger('test'))
        after = {n: a.asnumpy() for n, a in module.get_params()[0].items()}

        batch = reference_iter.next()          # the batch fit() trained on (same seed/epoch)
        assert [d.shape[0] for d in batch.data] == [2] * 4
        grads = per_image_gradients(symbol, batch, arg_params, aux_params)
    finally:
        train_iter.close()
        reference_iter.close()

    assert set(grads[0]) == set(after)  # every parameter is trained in the shapes config
    steps = {0: 0.0, 1: 0.0}   # largest change each image's gradient alone makes
    for name, w0 in before.items():
        lr_mult, wd_mult = multipliers(symbol, name)
        summed = grads[0][name] + grads[1][name]
        expected = w0 - LR * lr_mult * (summed + WD * wd_mult * w0)  # SGD, zero momentum
        np.testing.assert_allclose(after[name], expected, rtol=0, atol=1e-5, err_msg=name)
        for i in steps:
            steps[i] = max(steps[i], float(np.abs(LR * lr_mult * grads[i][name]).max()))
    # dropping either device's gradient, or averaging instead of summing, would move some
    # parameter by far more than the tolerance
    assert min(steps.values()) > 1e-3, steps


# ---- 2. two worker processes + one server vs one process with two contexts ---------------

def dist_overrides(root, kvstore):
    """Command-line overrides of the shapes config for test 2 (tiny, deterministic)."""
    extra = {'dist': ['default.kvstore=dist_sync', 'default.LOCAL_WORKERS=1'],
             'local': ['default.LOCAL_WORKERS=2', 'default.LOCAL_UPDATE=sum'],
             'single': ['default.kvstore=device', 'num_cpu_devices=2',
                        'default.LOCAL_WORKERS=1']}[kvstore]
    return ['output_path=%s' % os.path.join(root, 'out_' + kvstore),
            'dataset.root_path=%s' % os.path.join(root, 'data'),
            'dataset.dataset_path=%s' % os.path.join(root, 'data', 'shapes'),
            'dataset.num_train_images=3', 'dataset.num_val_images=1', 'SCALES=[[64, 96]]',
            'network.IMAGE_STRIDE=96', 'TRAIN.RPN_BATCH_SIZE=1000000', 'TRAIN.warmup=False',
            'TRAIN.end_epoch=1', 'default.frequent=1', 'default.ADAPT_THREADS=false'] + extra


def recording_fit(dump_dir, original_fit=fit):
    """fit() wrapper saving initial/final arg params and the roidb indices of every batch
    to ``dump_dir/<rank0|rank1|single>.npz`` (``seen`` holds a JSON list per batch). With
    FAIL_ENV set, the worker of that rank raises ValueError instead of training."""
    def wrapped(symbol, train_iter, contexts, arg_params, aux_params, **kwargs):
        kv = kwargs['args'].kvstore
        if FAIL_ENV in os.environ and os.environ[FAIL_ENV] == str(getattr(kv, 'rank', None)):
            raise ValueError('injected failure of worker %d' % kv.rank)
        seen, plain_next = [], train_iter.next

        def next_batch():
            batch = plain_next()
            seen.append([int(i) for i in batch.index])
            return batch
        train_iter.next = next_batch
        initial = {n: a.asnumpy() for n, a in arg_params.items()}
        module = original_fit(symbol, train_iter, contexts, arg_params, aux_params, **kwargs)
        name = 'rank%d' % kv.rank if hasattr(kv, 'rank') else 'single'
        arrays = {'init:' + n: v for n, v in initial.items()}
        arrays.update({'final:' + n: a.asnumpy() for n, a in module.get_params()[0].items()})
        np.savez(os.path.join(dump_dir, name + '.npz'), seen=json.dumps(seen), **arrays)
        return module
    return wrapped


def worker_main(argv):
    """``worker DUMP -- ARGS``: the training command line with deterministic draws + dumps."""
    dump_dir, cli_args = argv[1], argv[argv.index('--') + 1:]
    os.environ[DUMP_ENV] = dump_dir    # for the processes of default.LOCAL_WORKERS (below)
    deterministic_sampling(setattr)
    train_end2end.fit = recording_fit(dump_dir)
    run_main(runpy.run_path(TRAIN_TEST, run_name='fcis_train_test')['main'], cli_args)


def load_dump(path):
    with np.load(path) as f:
        params = {k: f[k] for k in f.files if k != 'seen'}
        return params, json.loads(str(f['seen']))


def run_single(root, dump, monkeypatch):
    """The one-process reference run (two CPU contexts); also generates the dataset."""
    deterministic_sampling(monkeypatch.setattr)
    monkeypatch.setattr(train_end2end, 'fit', recording_fit(str(dump)))
    train_end2end.train_net(load_config(SHAPES, dist_overrides(root, 'single')))


def assert_workers_match_single(dump, out_dir):
    """Both workers end with identical parameters, equal to the one-process run's, over the
    same images in the same order; worker 0 alone writes checkpoint and metrics."""
    single, single_seen = load_dump(dump / 'single.npz')
    ranks = [load_dump(dump / ('rank%d.npz' % r)) for r in (0, 1)]
    # the same images in the same order: step k of worker r = device r of step k
    assert [a + b for a, b in zip(ranks[0][1], ranks[1][1])] == single_seen
    assert len(single_seen) >= 2
    names = [k[len('final:'):] for k in single if k.startswith('final:')]
    moved = 0.0
    for name in names:
        final0, final1 = ranks[0][0]['final:' + name], ranks[1][0]['final:' + name]
        np.testing.assert_array_equal(final0, final1, err_msg=name)
        np.testing.assert_allclose(final0, single['final:' + name], rtol=0, atol=1e-4,
                                   err_msg=name)
        moved = max(moved, float(np.abs(final0 - ranks[0][0]['init:' + name]).max()))
    assert moved > 1e-2  # training changed the parameters far beyond the tolerance

    saved = mx.nd.load(str(out_dir / 'e2e-0001.params'))
    for name in names:
        np.testing.assert_array_equal(saved['arg:' + name].asnumpy(),
                                      ranks[0][0]['final:' + name], err_msg=name)
    batches = [json.loads(line) for line in open(out_dir / 'metrics.jsonl')]
    assert [r['num_update'] for r in batches if r['type'] == 'batch'] == \
        list(range(1, len(single_seen) + 1))   # one writer: worker 0
    assert sorted(p.name for p in out_dir.iterdir() if p.name.startswith('e2e')) == [
        'e2e-0001.manifest.json', 'e2e-0001.params', 'e2e-0001.states']
    assert (out_dir / 'train.worker1.log').is_file() and (out_dir / 'config.yaml').is_file()


def run_worker_script(dump, cli, launcher=(), extra_env=None, timeout=110):
    """This file as the training command (``worker DUMP -- ARGS``), behind ``launcher``."""
    env = dict(os.environ, PYTHONPATH=os.path.abspath(ROOT), OMP_NUM_THREADS='1',
               **(extra_env or {}))
    return run_bounded(list(launcher) + [sys.executable, os.path.abspath(__file__), 'worker',
                                         str(dump), '--'] + cli,
                       timeout=timeout, cwd=ROOT, env=env)


def test_two_workers_match_one_process_with_two_contexts(tmp_path, monkeypatch):
    root, dump = str(tmp_path), tmp_path / 'dump'
    dump.mkdir()
    run_single(root, dump, monkeypatch)
    cli = ['--cfg', SHAPES, '--skip-test'] + dist_overrides(root, 'dist')
    code, out, _ = run_worker_script(dump, cli, launcher=[
        sys.executable, LAUNCHER, '--workers', '2', '--servers', '1', '--timeout', '90',
        '--grace', '5', '--'])
    assert code == 0, out[-4000:]
    assert_workers_match_single(dump, tmp_path / 'out_dist' / 'shapes_fcis_end2end' / 'train')


# ---- 3. two local worker processes (default.LOCAL_WORKERS=2) vs the same one process -----

def test_local_workers_match_one_process_with_two_contexts(tmp_path, monkeypatch):
    root, dump = str(tmp_path), tmp_path / 'dump'
    dump.mkdir()
    run_single(root, dump, monkeypatch)
    cli = ['--cfg', SHAPES, '--skip-test'] + dist_overrides(root, 'local')
    code, out, _ = run_worker_script(dump, cli)
    assert code == 0, out[-4000:]
    assert_workers_match_single(dump, tmp_path / 'out_local' / 'shapes_fcis_end2end' / 'train')


def test_a_failing_local_worker_stops_the_run_with_its_error(tmp_path, monkeypatch):
    root, dump = str(tmp_path), tmp_path / 'dump'
    dump.mkdir()
    cli = ['--cfg', SHAPES, '--skip-test'] + dist_overrides(root, 'local')
    for rank, line in ((1, 'error: training worker 1: injected failure of worker 1'),
                       (0, 'error: injected failure of worker 0')):
        code, out, _ = run_worker_script(dump, cli, extra_env={FAIL_ENV: str(rank)}, timeout=90)
        assert code == 1, out[-4000:]
        assert line in out.splitlines(), out[-4000:]
        assert 'Traceback' not in out


if __name__ == '__mp_main__' and os.environ.get(DUMP_ENV):
    # a process of default.LOCAL_WORKERS started by worker_main (multiprocessing's spawn runs
    # this file as __mp_main__): the same stand-ins and recording as worker_main's
    deterministic_sampling(setattr)
    train_end2end.fit = recording_fit(os.environ[DUMP_ENV])

if __name__ == '__main__' and sys.argv[1:2] == ['worker']:
    worker_main(sys.argv[1:])
