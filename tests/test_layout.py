"""The project's layout: lib/ (model-independent) <- fcis/ (model, pipeline) <- experiments/
(YAMLs, launchers, tools). lib/ imports neither fcis nor experiments, fcis/ does not import
experiments (imports read with ast, relative ones resolved), and no source .py file is
longer than MAX_LINES."""
import ast
import os
import re

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
MAX_LINES = 420
# folders of generated or downloaded files, not source
SKIPPED_DIRS = {'build', 'data', 'output', 'model', '__pycache__'}
# package -> the top-level packages its files may not import
FORBIDDEN = {'lib': ('fcis', 'experiments'), 'fcis': ('experiments',)}
CYTHON_IMPORT = re.compile(r'^\s*(?:from|c?import)\s+([\w.]+)', re.MULTILINE)


def source_files(top, suffixes=('.py',)):
    """Paths relative to ROOT of the files under ROOT/top (top '' = the whole tree)."""
    found = []
    for folder, dirs, files in os.walk(os.path.join(ROOT, top)):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not d.startswith('.'))
        found += [os.path.relpath(os.path.join(folder, f), ROOT)
                  for f in sorted(files) if f.endswith(suffixes)]
    return found


def module_name(path):
    """'fcis/core/run.py' -> ['fcis', 'core', 'run']; a package's __init__ -> its name."""
    parts = os.path.splitext(path)[0].split(os.sep)
    return parts[:-1] if parts[-1] == '__init__' else parts


def imported_modules(path):
    """Absolute names of every module ``path`` imports (relative imports resolved)."""
    with open(os.path.join(ROOT, path)) as f:
        tree = ast.parse(f.read(), path)
    package = module_name(path)
    if not path.endswith('__init__.py'):
        package = package[:-1]
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                names.append('.'.join(base + ([node.module] if node.module else [])))
            else:
                names.append(node.module)
    return names


def layer_violations(package, forbidden):
    """'file: import name' for each import of a forbidden package by a file of ``package``."""
    bad = []
    for path in source_files(package):
        for name in imported_modules(path):
            if name.split('.')[0] in forbidden:
                bad.append('%s: import %s' % (path, name))
    for path in source_files(package, ('.pyx', '.pxd')):
        with open(os.path.join(ROOT, path)) as f:
            bad += ['%s: import %s' % (path, name) for name in CYTHON_IMPORT.findall(f.read())
                    if name.split('.')[0] in forbidden]
    return bad


def test_import_resolution_on_known_files():
    # guards the checks below against reading nothing
    assert 'lib.rpn.anchor_target' in imported_modules(os.path.join('fcis', 'core',
                                                                    'minibatch.py'))
    assert 'fcis.config.defaults' in imported_modules(os.path.join('fcis', 'config',
                                                                   'config.py'))
    assert 'lib.utils.mxnet_compat' in imported_modules(os.path.join('lib', '__init__.py'))
    assert len(source_files('lib')) > 20 and len(source_files('fcis')) > 20


@pytest.mark.parametrize('package', sorted(FORBIDDEN))
def test_no_import_against_the_layers(package):
    bad = layer_violations(package, FORBIDDEN[package])
    assert not bad, '%s/ may not import %s:\n  %s' % (package, ' or '.join(FORBIDDEN[package]),
                                                     '\n  '.join(bad))


def test_no_source_file_is_longer_than_the_limit():
    lengths = {}
    for path in source_files(''):
        with open(os.path.join(ROOT, path), 'rb') as f:
            lengths[path] = f.read().count(b'\n')
    assert len(lengths) > 100 and max(lengths.values()) > 200   # the tree was read
    long_files = ['%s (%d lines)' % (p, n) for p, n in sorted(lengths.items()) if n > MAX_LINES]
    assert not long_files, 'source files over %d lines (split them):\n  %s' % (
        MAX_LINES, '\n  '.join(long_files))
