"""Load a configuration: defaults, then a YAML file, then ``KEY=VALUE`` overrides.

    cfg = load_config('experiments/fcis/cfgs/shapes.yaml', ['TRAIN.end_epoch=2'])

Every key of the YAML and of the overrides must exist in ``defaults.py`` (the original
release's own keys are translated first: ``release_keys``); a value must have the default's
type (ints are accepted where floats are expected, lists and tuples
are interchangeable). Any violation raises ``ConfigError`` naming the key and the file, as
does a key of ``DEFAULT_ONLY`` with another value than its one supported value and a given
``network.NUM_ANCHORS`` that differs from len(ANCHOR_SCALES) x len(ANCHOR_RATIOS).
``MXNET_VERSION`` other than the running MXNet's version logs one warning line.
"""
import logging
import math
import os

import yaml
from easydict import EasyDict as edict

from lib.utils.image import normalize_scales

from .defaults import default_config
from .release_keys import (ReleaseKeyError, check_release_values, log_notes,
                           translate_release_keys)

logger = logging.getLogger(__name__)

class ConfigError(ValueError):
    """A configuration file or override is invalid; the message names the key and the fix."""


def _read_yaml(cfg_file):
    """The mapping of a YAML config file, or ConfigError naming the file."""
    if not os.path.isfile(cfg_file):
        raise ConfigError('config file not found: %s (the shipped ones are in '
                          'experiments/fcis/cfgs/)' % cfg_file)
    with open(cfg_file) as f:
        try:
            data = yaml.safe_load(f) or {}
        except yaml.YAMLError as err:
            raise ConfigError('%s is not valid YAML: %s' % (cfg_file, err))
    if not isinstance(data, dict):
        raise ConfigError('%s must hold a mapping of config keys' % cfg_file)
    return data


def _coerce(key, value, default, source):
    """Return ``value`` converted to the type of ``default``, or raise ConfigError."""
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
    elif isinstance(default, (int, float)) and not isinstance(default, bool):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if isinstance(default, int) and isinstance(value, float) and not value.is_integer():
                raise ConfigError("%s: key '%s' must be an integer, got %r" % (source, key, value))
            return type(default)(value)
        if isinstance(default, float) and isinstance(value, str):  # YAML reads '1e-3' as a string
            try:
                return float(value)
            except ValueError:
                pass
    elif isinstance(default, str):
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
    elif isinstance(default, (list, tuple)):
        if isinstance(value, (list, tuple)):
            return type(default)(value) if isinstance(default, tuple) else list(value)
    elif default is None:
        return value
    raise ConfigError("%s: key '%s' expects a %s (default %r), got %r"
                      % (source, key, type(default).__name__, default, value))


def _check_finite(key, value, source):
    """Reject NaN/inf numbers (alone or inside lists): they would only fail deep in training."""
    values = value if isinstance(value, (list, tuple)) else [value]
    for v in values:
        if isinstance(v, (list, tuple)):
            _check_finite(key, v, source)
        elif isinstance(v, float) and not math.isfinite(v):
            raise ConfigError("%s: key '%s' must be a finite number, got %r" % (source, key, value))
    return value


def _merge(dst, src, source, prefix=''):
    """Recursively copy ``src`` (a dict from YAML) into ``dst`` with key and type checks."""
    for key, value in src.items():
        full = prefix + str(key)
        if key not in dst:
            raise ConfigError("%s: unknown config key '%s' (known keys are listed in "
                              "fcis/config/defaults.py)" % (source, full))
        if isinstance(dst[key], dict):
            if not isinstance(value, dict):
                raise ConfigError("%s: key '%s' is a section; give it sub-keys, not %r"
                                  % (source, full, value))
            _merge(dst[key], value, source, full + '.')
        else:
            dst[key] = _check_finite(full, _coerce(full, value, dst[key], source), source)


def _parse_override(text):
    """'TRAIN.end_epoch=2' -> (['TRAIN', 'end_epoch'], 2) with YAML value parsing."""
    if '=' not in text:
        raise ConfigError("override '%s' must look like KEY=VALUE (e.g. TRAIN.end_epoch=2)" % text)
    key, raw = text.split('=', 1)
    try:
        value = yaml.safe_load(raw) if raw != '' else ''
    except yaml.YAMLError:
        value = raw
    return key.strip().split('.'), value


def _override_mapping(text):
    """'TRAIN.end_epoch=2' -> {'TRAIN': {'end_epoch': 2}}."""
    path, value = _parse_override(text)
    nested = value
    for part in reversed(path):
        nested = {part: nested}
    return nested


def apply_overrides(config, overrides):
    """Apply command-line ``KEY=VALUE`` strings to ``config`` (checked like YAML keys)."""
    for text in overrides or []:
        _merge(config, _override_mapping(text), "command-line override '%s'" % text)
    return config


LR_POLICIES = ('step', 'linear')  # TRAIN.lr_policy (fcis.core.schedule)
# (section, key) -> the values it may take
_CHOICES = {('TEST', 'MASK_VOTE_MODE'): ('release', 'roi'),
            ('TEST', 'MIN_DROP_MODE'): ('release', 'original'),
            ('TRAIN', 'lr_policy'): LR_POLICIES,
            ('default', 'LOCAL_UPDATE'): ('sum', 'each')}
# Keys of the release's schema with one behaviour here: (section or None, key) -> what the
# code does. Any other value is an error.
DEFAULT_ONLY = {
    (None, 'CLASS_AGNOSTIC'): 'FCIS regresses one class-agnostic box per ROI (8 box channels: '
                              'background and foreground)',
    ('TRAIN', 'BBOX_WEIGHTS'): 'the 4 box targets of a foreground ROI weigh 1 each; '
                               'TRAIN.LOSS_WEIGHTS[2] scales the box loss',
    ('TRAIN', 'RPN_BBOX_WEIGHTS'): 'the 4 box targets of a foreground anchor weigh 1 each',
    ('TRAIN', 'RPN_POSITIVE_WEIGHT'): 'every sampled anchor weighs the same in the RPN '
                                      'class loss',
    ('TEST', 'HAS_RPN'): 'test proposals always come from the RPN (no precomputed proposals)',
    ('TRAIN', 'BATCH_IMAGES'): 'one image per device, as in the release; more devices (gpus, '
                               'num_cpu_devices) make larger batches',
    ('TEST', 'BATCH_IMAGES'): 'one test image per device',
}


def check_default_only(config):
    """ConfigError naming the key, its value and the one supported value, for a key of
    DEFAULT_ONLY that differs from its default."""
    defaults = default_config()
    for (section, key), behaviour in DEFAULT_ONLY.items():
        value = config[key] if section is None else config[section][key]
        default = defaults[key] if section is None else defaults[section][key]
        if value != default:
            name = key if section is None else '%s.%s' % (section, key)
            raise ConfigError('%s is %r; only %r is supported: %s (remove the key)'
                              % (name, value, default, behaviour))


def check_local_workers(config):
    """ConfigError when default.LOCAL_WORKERS is below 1 or combined with what it excludes
    (a dist kvstore, GPUs, several CPU devices per process)."""
    workers = config.default.LOCAL_WORKERS
    if workers < 1:
        raise ConfigError('default.LOCAL_WORKERS must be >= 1 (training processes on this '
                          'machine), got %r' % (workers,))
    if workers == 1:
        return
    if str(config.default.kvstore).startswith('dist'):
        raise ConfigError('default.LOCAL_WORKERS=%d cannot be combined with default.kvstore=%s '
                          '(set one of them: LOCAL_WORKERS=1 for launch_dist.py runs)'
                          % (workers, config.default.kvstore))
    if str(config.gpus).strip() or int(config.num_cpu_devices) != 1:
        raise ConfigError('default.LOCAL_WORKERS=%d trains one CPU device per process; set '
                          "gpus='' and num_cpu_devices=1 (or LOCAL_WORKERS=1 for devices)"
                          % workers)


def check_scales(config):
    """ConfigError naming SCALES or TEST.SCALES when it is not (shorter side, max longer
    side) pairs; SCALES must also not be empty (TEST.SCALES may: then SCALES is used)."""
    for name, scales, required in (('SCALES', config.SCALES, True),
                                   ('TEST.SCALES', config.TEST.SCALES, False)):
        if not scales and not required:
            continue
        try:
            pairs = normalize_scales(scales)
        except (TypeError, ValueError):
            pairs = []
        if not pairs:
            raise ConfigError('%s must be a list of [shorter side, max longer side] pairs with '
                              '0 < shorter <= longer, e.g. [[600, 1000]]; got %r'
                              % (name, scales))


def warn_mxnet_version(config):
    """One warning line when MXNET_VERSION names another MXNet than the running one; the
    key is informational, the run uses the running MXNet."""
    if not config.MXNET_VERSION:
        return
    import mxnet
    if config.MXNET_VERSION != mxnet.__version__:
        logger.warning('MXNET_VERSION is %r but MXNet %s is running; the config is used with '
                       'MXNet %s', config.MXNET_VERSION, mxnet.__version__, mxnet.__version__)


def typed_num_anchors(data, source):
    """[(source, value)] when the mapping ``data`` (a YAML file's or an override's) sets the
    derived network.NUM_ANCHORS, else []."""
    network = data.get('network')
    if isinstance(network, dict) and 'NUM_ANCHORS' in network:
        return [(source, network['NUM_ANCHORS'])]
    return []


def check_num_anchors(config, typed):
    """ConfigError when a typed network.NUM_ANCHORS (``typed``: [(source, value)]) differs
    from len(ANCHOR_SCALES) x len(ANCHOR_RATIOS) of the merged config."""
    net = config.network
    for source, value in typed:
        if value != net.NUM_ANCHORS:
            raise ConfigError("%s: key 'network.NUM_ANCHORS' is %r but len(network.ANCHOR_SCALES)"
                              " x len(network.ANCHOR_RATIOS) = %d x %d = %d; the key is derived "
                              "from them (remove it or give %d)"
                              % (source, value, len(net.ANCHOR_SCALES), len(net.ANCHOR_RATIOS),
                                 net.NUM_ANCHORS, net.NUM_ANCHORS))


def finalize(config):
    """Compute derived values and check cross-key consistency."""
    net = config.network
    net.NUM_ANCHORS = len(net.ANCHOR_SCALES) * len(net.ANCHOR_RATIOS)
    if net.PSROI_POOLED_SIZE % net.PSROI_GROUP_SIZE != 0:
        raise ConfigError('network.PSROI_POOLED_SIZE (%d) must be a multiple of '
                          'network.PSROI_GROUP_SIZE (%d)' % (net.PSROI_POOLED_SIZE, net.PSROI_GROUP_SIZE))
    if config.dataset.NUM_CLASSES < 2:
        raise ConfigError('dataset.NUM_CLASSES must count the background and at least one class')
    for (section, key), allowed in _CHOICES.items():
        if config[section][key] not in allowed:
            raise ConfigError('%s.%s must be one of %s, got %r'
                              % (section, key, ', '.join(allowed), config[section][key]))
    check_default_only(config)
    check_local_workers(config)
    check_scales(config)
    if config.TRAIN.RPN_MIN_SIZE == 0:
        config.TRAIN.RPN_MIN_SIZE = net.RPN_FEAT_STRIDE
    if config.TEST.RPN_MIN_SIZE == 0:
        config.TEST.RPN_MIN_SIZE = net.RPN_FEAT_STRIDE
    return config


def load_config(cfg_file=None, overrides=None):
    """Defaults <- YAML file <- overrides, then derived values. Returns an EasyDict."""
    config = default_config()
    checks, typed = [], []
    if cfg_file:
        data = _read_yaml(cfg_file)
        try:
            notes, checks = translate_release_keys(data, cfg_file)
        except ReleaseKeyError as err:
            raise ConfigError(str(err)) from None
        typed += typed_num_anchors(data, cfg_file)
        _merge(config, data, cfg_file)
        log_notes(notes)
    apply_overrides(config, overrides)
    for text in overrides or []:
        typed += typed_num_anchors(_override_mapping(text), "command-line override '%s'" % text)
    config.cfg_file = cfg_file or ''
    config.cfg_name = os.path.splitext(os.path.basename(cfg_file))[0] if cfg_file else 'default'
    config = finalize(config)
    check_num_anchors(config, typed)
    try:
        check_release_values(config, checks, cfg_file)
    except ReleaseKeyError as err:
        raise ConfigError(str(err)) from None
    warn_mxnet_version(config)
    return config


def to_plain(value):
    """EasyDict/tuple tree -> plain dict/list tree (for YAML/JSON dumps)."""
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    return value


def save_config(config, path):
    """Write the merged configuration as YAML (atomically) to ``path``."""
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        yaml.safe_dump(to_plain(config), f, default_flow_style=None, sort_keys=False)
    os.replace(tmp, path)
    return path


__all__ = ['ConfigError', 'load_config', 'apply_overrides', 'save_config', 'to_plain', 'edict']
