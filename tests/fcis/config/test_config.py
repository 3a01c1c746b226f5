"""Configuration loading: defaults, YAML, overrides, errors, derived values."""
import glob
import os

import pytest

from fcis.config import ConfigError, load_config, save_config

CFG_DIR = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'experiments', 'fcis', 'cfgs')


def write(tmp_path, text, name='exp.yaml'):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_unknown_key_is_named_with_the_file(tmp_path):
    path = write(tmp_path, 'TRAIN:\n  lr: 0.01\n  no_such_key: 3\n')
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert 'TRAIN.no_such_key' in str(err.value) and path in str(err.value)


def test_wrong_type_is_named(tmp_path):
    path = write(tmp_path, 'TRAIN:\n  end_epoch: ten\n')
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert 'TRAIN.end_epoch' in str(err.value)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config(str(tmp_path / 'absent.yaml'))
    assert 'absent.yaml' in str(err.value)


def test_overrides_come_after_the_yaml(tmp_path):
    path = write(tmp_path, 'TRAIN:\n  end_epoch: 5\ndataset:\n  dataset_path: /a\n')
    cfg = load_config(path, ['TRAIN.end_epoch=2', 'dataset.dataset_path=/data/mycoco', 'TRAIN.lr=1e-3'])
    assert cfg.TRAIN.end_epoch == 2 and isinstance(cfg.TRAIN.end_epoch, int)
    assert cfg.dataset.dataset_path == '/data/mycoco'
    assert cfg.TRAIN.lr == pytest.approx(1e-3)
    with pytest.raises(ConfigError) as err:
        load_config(path, ['TRAIN.bogus=1'])
    assert 'TRAIN.bogus' in str(err.value)
    with pytest.raises(ConfigError):
        load_config(path, ['TRAIN.end_epoch'])


def test_num_anchors_is_derived():
    cfg = load_config(None, ['network.ANCHOR_SCALES=[4, 8, 16, 32]', 'network.ANCHOR_RATIOS=[0.5, 1, 2]'])
    assert cfg.network.NUM_ANCHORS == 12
    with pytest.raises(ConfigError) as err:
        load_config(None, ['network.ANCHOR_SCALES=[8]', 'network.NUM_ANCHORS=99'])
    assert "'network.NUM_ANCHORS' is 99" in str(err.value) and '1 x 3 = 3' in str(err.value)
    cfg = load_config(None, ['network.ANCHOR_SCALES=[8]', 'network.NUM_ANCHORS=3'])
    assert cfg.network.NUM_ANCHORS == 3


@pytest.mark.parametrize('path', sorted(glob.glob(os.path.join(CFG_DIR, '*.yaml'))))
def test_shipped_configs_load_and_round_trip(path, tmp_path):
    cfg = load_config(path)
    assert cfg.network.NUM_ANCHORS == len(cfg.network.ANCHOR_SCALES) * len(cfg.network.ANCHOR_RATIOS)
    dumped = save_config(cfg, str(tmp_path / 'merged.yaml'))
    again = load_config(dumped)
    for section in ('network', 'TRAIN', 'TEST', 'dataset'):
        for key, value in cfg[section].items():
            got = again[section][key]
            assert (list(got) if isinstance(got, tuple) else got) == (list(value) if isinstance(value, tuple) else value), key


def test_paper_schedules():
    voc = load_config(os.path.join(CFG_DIR, 'resnet_v1_101_voc_sds_fcis_end2end.yaml'))
    coco = load_config(os.path.join(CFG_DIR, 'resnet_v1_101_coco_fcis_end2end_ohem.yaml'))
    assert (voc.dataset.NUM_CLASSES, voc.network.NUM_ANCHORS, voc.TRAIN.end_epoch) == (21, 9, 22)
    assert voc.TRAIN.lr_step == '14' and not voc.TRAIN.ENABLE_OHEM and voc.TRAIN.BG_THRESH_LO == 0.1
    assert len(voc.gpus.split(',')) == 4
    assert (coco.dataset.NUM_CLASSES, coco.network.NUM_ANCHORS, coco.TRAIN.end_epoch) == (81, 12, 8)
    assert coco.TRAIN.ENABLE_OHEM and coco.TRAIN.BATCH_ROIS_OHEM == 128 and coco.TRAIN.warmup
    assert coco.TRAIN.warmup_step == 250 and coco.TRAIN.warmup_lr == pytest.approx(5e-5)
    assert len(coco.gpus.split(',')) == 8


def test_every_default_key_is_commented():
    source = open(os.path.join(os.path.dirname(__file__), '..', '..', '..', 'fcis', 'config', 'defaults.py')).read()
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.startswith('config.') and '= edict()' not in stripped:
            assert '#' in stripped, 'uncommented config key: ' + stripped


def test_non_finite_numbers_are_rejected(tmp_path):
    path = write(tmp_path, 'TRAIN:\n  BBOX_STDS: [0.2, .nan, 0.5, 0.5]\n')
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert 'TRAIN.BBOX_STDS' in str(err.value) and 'finite' in str(err.value)
    with pytest.raises(ConfigError) as err:
        load_config(None, ['TRAIN.lr=inf'])
    assert 'TRAIN.lr' in str(err.value)
