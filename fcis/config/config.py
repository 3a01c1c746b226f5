"""Load a configuration: defaults, then a YAML file, then ``KEY=VALUE`` overrides.

    cfg = load_config('experiments/fcis/cfgs/shapes.yaml', ['TRAIN.end_epoch=2'])

Every key of the YAML and of the overrides must exist in ``defaults.py`` (the original
release's own keys are translated first: ``release_keys``); a value must have the default's
type (ints are accepted where floats are expected, lists and tuples
are interchangeable). Any violation raises ``ConfigError`` naming the key and the file.
"""
import math
import os

import yaml
from easydict import EasyDict as edict

from .defaults import default_config
from .release_keys import (ReleaseKeyError, check_release_values, log_notes,
                           translate_release_keys)


class ConfigError(ValueError):
    """A configuration file or override is invalid; the message names the key and the fix."""


def _read_yaml(cfg_file):
    """The mapping of a YAML config file, or ConfigError naming the file."""
    if not os.path.isfile(cfg_file):
        raise ConfigError("config file not found: %s (the shipped ones are in "
                          "experiments/fcis/cfgs/)" % cfg_file)
    with open(cfg_file) as f:
        try:
            data = yaml.safe_load(f) or {}
        except yaml.YAMLError as err:
            raise ConfigError("%s is not valid YAML: %s" % (cfg_file, err))
    if not isinstance(data, dict):
        raise ConfigError("%s must hold a mapping of config keys" % cfg_file)
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


def apply_overrides(config, overrides):
    """Apply command-line ``KEY=VALUE`` strings to ``config`` (checked like YAML keys)."""
    for text in overrides or []:
        path, value = _parse_override(text)
        nested = value
        for part in reversed(path):
            nested = {part: nested}
        _merge(config, nested, "command-line override '%s'" % text)
    return config


_CHOICES = {'MASK_VOTE_MODE': ('release', 'roi'), 'MIN_DROP_MODE': ('release', 'original')}


def finalize(config):
    """Compute derived values and check cross-key consistency."""
    net = config.network
    net.NUM_ANCHORS = len(net.ANCHOR_SCALES) * len(net.ANCHOR_RATIOS)
    if net.PSROI_POOLED_SIZE % net.PSROI_GROUP_SIZE != 0:
        raise ConfigError("network.PSROI_POOLED_SIZE (%d) must be a multiple of "
                          "network.PSROI_GROUP_SIZE (%d)" % (net.PSROI_POOLED_SIZE, net.PSROI_GROUP_SIZE))
    if config.dataset.NUM_CLASSES < 2:
        raise ConfigError("dataset.NUM_CLASSES must count the background and at least one class")
    for key, allowed in _CHOICES.items():
        if config.TEST[key] not in allowed:
            raise ConfigError("TEST.%s must be one of %s, got %r"
                              % (key, ', '.join(allowed), config.TEST[key]))
    if config.TRAIN.RPN_MIN_SIZE == 0:
        config.TRAIN.RPN_MIN_SIZE = net.RPN_FEAT_STRIDE
    if config.TEST.RPN_MIN_SIZE == 0:
        config.TEST.RPN_MIN_SIZE = net.RPN_FEAT_STRIDE
    return config


def load_config(cfg_file=None, overrides=None):
    """Defaults <- YAML file <- overrides, then derived values. Returns an EasyDict."""
    config = default_config()
    checks = []
    if cfg_file:
        data = _read_yaml(cfg_file)
        try:
            notes, checks = translate_release_keys(data, cfg_file)
        except ReleaseKeyError as err:
            raise ConfigError(str(err)) from None
        _merge(config, data, cfg_file)
        log_notes(notes)
    apply_overrides(config, overrides)
    config.cfg_file = cfg_file or ''
    config.cfg_name = os.path.splitext(os.path.basename(cfg_file))[0] if cfg_file else 'default'
    config = finalize(config)
    try:
        check_release_values(config, checks, cfg_file)
    except ReleaseKeyError as err:
        raise ConfigError(str(err)) from None
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
