"""benchmark.py train's options: a bad --params file or --local-workers count stops with one
line; rows name the file and the workers; the group run's thread helpers."""
import threading

import mxnet as mx
import pytest

from experiments.fcis.tools.bench import train, train_loop


def test_missing_or_unnamed_params_file_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        train.main(['--config', 'shapes', '--params', str(tmp_path / 'none.params')])
    assert exit_info.value.code == 2
    assert '--params: parameter file not found: ' in capsys.readouterr().err
    unnamed = tmp_path / 'unnamed.params'
    mx.nd.save(str(unnamed), [mx.nd.zeros((2,))])
    with pytest.raises(SystemExit):
        train.main(['--config', 'shapes', '--params', str(unnamed)])
    assert 'holds an unnamed NDArray list' in capsys.readouterr().err


def test_row_label_names_the_starting_weights():
    row = {'config': 'shapes', 'ohem': True, 'overrides': [], 'busy': False,
           'params': '/runs/shapes/train/e2e-0003.params'}
    assert train.row_label(row) == 'shapes (OHEM) from e2e-0003.params'
    assert train.row_label(dict(row, params=None)) == 'shapes (OHEM)'


def test_worker_rows_are_named_and_compared_per_image():
    one = {'config': 'shapes', 'ohem': True, 'overrides': [], 'busy': False, 'params': None,
           'workers': 1, 'images_per_s': 10.0, 'iteration_mean_s': 0.1}
    two = dict(one, workers=2, images_per_s=12.5, iteration_mean_s=0.16)
    assert train.row_label(two) == 'shapes (OHEM) 2 workers'
    # 0.1 s an image alone, 0.08 s an image in two workers (each batch 2 images in 0.16 s)
    assert train.ratios([one, two]) == \
        'shapes (OHEM) 2 workers / shapes (OHEM): 0.80x the time per image'


def test_busy_rows_compare_with_the_same_workers_alone():
    one = {'config': 'shapes', 'ohem': True, 'overrides': [], 'busy': False, 'params': None,
           'workers': 1, 'images_per_s': 10.0, 'iteration_mean_s': 0.1}
    two = dict(one, workers=2, images_per_s=20.0)
    one_busy = dict(one, busy=True, images_per_s=8.0)
    two_busy = dict(two, busy=True, images_per_s=12.5)
    assert train.row_label(two_busy) == 'shapes (OHEM) 2 workers + busy loop'
    assert train.ratios([one, two, one_busy, two_busy]).splitlines() == [
        'shapes (OHEM) 2 workers / shapes (OHEM): 0.50x the time per image',
        'shapes (OHEM) + busy loop / shapes (OHEM): 1.25x the time per image',
        'shapes (OHEM) 2 workers + busy loop / shapes (OHEM) 2 workers: 1.60x the time per image']


def test_local_workers_below_one_is_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        train.main(['--config', 'shapes', '--local-workers', '0'])
    assert exit_info.value.code == 2
    assert '--local-workers: 0; give 1 or more training processes' in capsys.readouterr().err


def test_on_new_thread_returns_or_raises():
    assert train_loop.on_new_thread(lambda: threading.current_thread().name) == 'bench-worker-0'
    with pytest.raises(KeyError, match='lost'):
        train_loop.on_new_thread(lambda: {}['lost'])


def test_worker_threads_sets_and_restores_the_omp_threads(monkeypatch):
    calls = []
    monkeypatch.setattr(train_loop, 'set_mxnet_omp_threads', calls.append)
    monkeypatch.setattr(train_loop, 'omp_threads', lambda: 2)
    monkeypatch.setattr(train_loop, 'threads_per_worker', lambda n: 2 // n)
    with train_loop.worker_threads(2):
        assert calls == [1]
    assert calls == [1, 2]
    with train_loop.worker_threads(1):
        pass
    assert calls == [1, 2]


def test_worker_rows_default_to_the_configs_processes():
    assert train.config_workers('shapes') == 2   # shapes_fcis_end2end.yaml: LOCAL_WORKERS 2
    assert train.config_workers('coco') == 1     # the release's one process
