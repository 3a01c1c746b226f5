"""Keys with one supported value, the derived network.NUM_ANCHORS, network.depth and the
MXNET_VERSION warning: each bad value ends in one error naming the key, the value and what
is supported."""
import logging

import mxnet as mx
import pytest

from fcis.config import ConfigError, load_config
from fcis.config.symbol_args import trunk_args


@pytest.mark.parametrize('override, supported', [
    ('CLASS_AGNOSTIC=false', 'only True is supported'),
    ('TRAIN.BBOX_WEIGHTS=[1, 1, 2, 2]', 'only [1.0, 1.0, 1.0, 1.0] is supported'),
    ('TRAIN.RPN_BBOX_WEIGHTS=[0.5, 0.5, 1, 1]', 'only [1.0, 1.0, 1.0, 1.0] is supported'),
    ('TRAIN.RPN_POSITIVE_WEIGHT=0.3', 'only -1.0 is supported'),
    ('TEST.HAS_RPN=false', 'only True is supported'),
    ('TRAIN.BATCH_IMAGES=2', 'only 1 is supported'),
    ('TEST.BATCH_IMAGES=4', 'only 1 is supported'),
])
def test_a_key_with_one_behaviour_rejects_other_values(override, supported):
    key, raw = override.split('=')
    with pytest.raises(ConfigError) as err:
        load_config(None, [override])
    message = str(err.value)
    assert message.startswith(key + ' is ') and supported in message, message
    assert '\n' not in message
    shown = message[len(key + ' is '):message.index(';')]       # the value as loaded
    assert shown.lower().replace('.0', '') == raw.lower().replace('.0', ''), shown


def test_a_key_with_one_behaviour_named_in_a_yaml_file(tmp_path):
    path = tmp_path / 'exp.yaml'
    path.write_text('TRAIN:\n  RPN_POSITIVE_WEIGHT: 0.5\n')
    with pytest.raises(ConfigError, match=r'TRAIN\.RPN_POSITIVE_WEIGHT is 0\.5; only -1\.0'):
        load_config(str(path))
    path.write_text('TRAIN:\n  RPN_POSITIVE_WEIGHT: -1\n  BBOX_WEIGHTS: [1, 1, 1, 1]\n')
    assert load_config(str(path)).TRAIN.RPN_POSITIVE_WEIGHT == -1.0


def test_num_anchors_given_in_a_yaml_must_match_the_anchors(tmp_path):
    path = tmp_path / 'exp.yaml'
    path.write_text('network:\n  ANCHOR_SCALES: [4, 8]\n  NUM_ANCHORS: 9\n')
    with pytest.raises(ConfigError) as err:
        load_config(str(path))
    assert str(path) in str(err.value) and '2 x 3 = 6' in str(err.value)
    assert 'give 6' in str(err.value)
    path.write_text('network:\n  ANCHOR_SCALES: [4, 8]\n  NUM_ANCHORS: 6\n')
    assert load_config(str(path)).network.NUM_ANCHORS == 6
    # an override of the anchors makes the file's count wrong, and the error names the file
    with pytest.raises(ConfigError, match="'network.NUM_ANCHORS' is 6 .* 1 x 3 = 3"):
        load_config(str(path), ['network.ANCHOR_SCALES=[8]'])


def test_depth_values_are_the_trunk_builders():
    for depth, units in ((50, (3, 4, 6, 3)), (101, (3, 4, 23, 3)), (152, (3, 8, 36, 3))):
        cfg = load_config(None, ['network.depth=%d' % depth])
        assert trunk_args(cfg).stage_units() == units
    with pytest.raises(ConfigError, match="'network.depth' expects a int .* got 'small'"):
        load_config(None, ['network.depth=small'])
    cfg = load_config(None, ['network.depth=34'])                 # loads; the builder names it
    with pytest.raises(ValueError, match=r'depth 34 is not supported \(use \[50, 101, 152\]'):
        trunk_args(cfg).stage_units()
    small = load_config(None, ['network.depth=50', 'network.TRUNK_UNITS=[1, 2, 3, 2]'])
    assert trunk_args(small).stage_units() == (1, 2, 3, 2)


def version_warnings(caplog, overrides):
    """Warning lines of fcis.config.config while loading the defaults with ``overrides``."""
    log = logging.getLogger('fcis.config.config')
    log.addHandler(caplog.handler)       # the project's loggers may not propagate to the root
    try:
        caplog.clear()
        load_config(None, overrides)
    finally:
        log.removeHandler(caplog.handler)
    records = {id(r): r for r in caplog.records}.values()  # the root's handler may see it too
    return [r.getMessage() for r in records
            if r.name == 'fcis.config.config' and 'MXNET_VERSION' in r.getMessage()]


def test_another_mxnet_version_is_one_warning_line(caplog):
    lines = version_warnings(caplog, ['MXNET_VERSION=1.5.0'])
    assert len(lines) == 1 and "'1.5.0'" in lines[0] and mx.__version__ in lines[0]
    assert version_warnings(caplog, ['MXNET_VERSION=' + mx.__version__]) == []
    assert version_warnings(caplog, []) == []


@pytest.mark.parametrize('overrides, fragment', [
    (['default.LOCAL_WORKERS=0'], 'default.LOCAL_WORKERS must be >= 1'),
    (['default.LOCAL_WORKERS=2', 'default.kvstore=dist_sync'],
     'cannot be combined with default.kvstore=dist_sync'),
    (['default.LOCAL_WORKERS=2', 'num_cpu_devices=2'], 'one CPU device per process'),
    (['default.LOCAL_WORKERS=2', 'gpus=0'], 'one CPU device per process'),
])
def test_local_workers_refuse_what_they_exclude(overrides, fragment):
    with pytest.raises(ConfigError) as err:
        load_config(None, overrides)
    assert fragment in str(err.value) and '\n' not in str(err.value)


def test_local_workers_alone_load():
    assert load_config(None, ['default.LOCAL_WORKERS=3']).default.LOCAL_WORKERS == 3


@pytest.mark.parametrize('override', ['SCALES=[]', 'SCALES=[[600]]', 'TEST.SCALES=[[300, 200]]',
                                      'TEST.SCALES=[[0, 10]]', "TEST.SCALES=[['a', 'b']]"])
def test_bad_scales_are_one_line_naming_the_key(override):
    key = override.split('=')[0]
    with pytest.raises(ConfigError) as err:
        load_config(None, [override])
    message = str(err.value)
    assert message.startswith(key + ' must be a list of') and '\n' not in message, message


@pytest.mark.parametrize('overrides, expected', [
    ([], (600, 1000)),
    (['SCALES=[[400, 700], [500, 800]]'], (400, 700)),
    (['TEST.SCALES=[[224, 320]]'], (224, 320)),
    (['SCALES=[[192, 274]]', 'TEST.SCALES=[[224, 320], [256, 360]]'], (224, 320)),
])
def test_images_are_tested_at_the_first_test_scale(overrides, expected):
    """The first pair of TEST.SCALES, else of SCALES (the release's rule), is what the
    tester and the predictor resize test images to."""
    from fcis.core.minibatch import ImageInput
    image_input = ImageInput.from_cfg(load_config(None, overrides))
    assert (image_input.target_size, image_input.max_size) == expected
