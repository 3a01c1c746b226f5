"""The engine default: NaiveEngine on a CPU-only MXNet, the user's choice kept."""
import importlib.machinery

from lib.utils import mxnet_env


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
