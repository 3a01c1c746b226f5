"""FCIS configuration: defaults, YAML/override loading, conversion to builder arguments."""
from .config import ConfigError, load_config, apply_overrides, save_config
from .defaults import default_config
