"""The engine default: NaiveEngine on a CPU-only MXNet, started without its log line, the
user's choice kept."""
import importlib.machinery
import os
import subprocess
import sys

from lib.utils import mxnet_env

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__)))))


def _fake_site(tmp_path, monkeypatch, dist_infos):
    package = tmp_path / 'mxnet'
    package.mkdir()
    for name in dist_infos:
        (tmp_path / name).mkdir()
    spec = importlib.machinery.ModuleSpec('mxnet', None, is_package=True)
    spec.submodule_search_locations = [str(package)]
    monkeypatch.setattr(mxnet_env.importlib.util, 'find_spec', lambda name: spec)


def test_cpu_build_gets_naive_engine(tmp_path, monkeypatch):
    _fake_site(tmp_path, monkeypatch, ['mxnet-1.9.1.dist-info'])
    monkeypatch.delenv('MXNET_ENGINE_TYPE', raising=False)
    assert not mxnet_env.mxnet_has_cuda()
    assert mxnet_env.set_default_engine() == 'NaiveEngine'


def test_cuda_build_keeps_threaded_engine(tmp_path, monkeypatch):
    _fake_site(tmp_path, monkeypatch, ['mxnet_cu112-1.9.1.dist-info'])
    monkeypatch.delenv('MXNET_ENGINE_TYPE', raising=False)
    assert mxnet_env.mxnet_has_cuda()
    assert mxnet_env.set_default_engine() == ''


def test_user_setting_wins(tmp_path, monkeypatch):
    _fake_site(tmp_path, monkeypatch, ['mxnet-1.9.1.dist-info'])
    monkeypatch.setenv('MXNET_ENGINE_TYPE', 'ThreadedEnginePerDevice')
    assert mxnet_env.set_default_engine() == 'ThreadedEnginePerDevice'


def test_stderr_without_drops_only_the_named_lines(capfd):
    with mxnet_env.stderr_without('start using engine'):
        os.write(2, b'kept 1\n[00:00:00] engine.cc:54: MXNet start using engine: X\nkept 2\n')
    assert capfd.readouterr().err == 'kept 1\nkept 2\n'


def test_stderr_without_restores_stderr_after_an_error(capfd):
    try:
        with mxnet_env.stderr_without('x'):
            raise ValueError('inside')
    except ValueError:
        pass
    os.write(2, b'after\n')
    assert capfd.readouterr().err == 'after\n'


def _run_python(code, **env_changes):
    env = {k: v for k, v in os.environ.items() if k != 'MXNET_ENGINE_TYPE'}
    env.update(env_changes)
    return subprocess.run([sys.executable, '-c', code], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)


def test_import_lib_starts_the_naive_engine_silently():
    proc = _run_python('import lib, os, mxnet as mx; mx.nd.ones(2).asnumpy(); '
                       'print(os.environ["MXNET_ENGINE_TYPE"])')
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == 'NaiveEngine'
    assert proc.stderr == ''


def test_the_users_engine_is_kept():
    proc = _run_python('import lib, os; print(os.environ["MXNET_ENGINE_TYPE"])',
                       MXNET_ENGINE_TYPE='ThreadedEnginePerDevice')
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == 'ThreadedEnginePerDevice'


def test_an_inherited_engine_setting_is_silent_too():
    proc = _run_python('import lib, mxnet as mx; mx.nd.ones(2).asnumpy()',
                       MXNET_ENGINE_TYPE='NaiveEngine')
    assert proc.returncode == 0 and proc.stderr == '', proc.stderr
