"""benchmark.py peer: the FCIS floor's FLOP count (hand-computed layers of the COCO
network), its table, and the run without torch."""
import sys

import pytest

from experiments.fcis.tools.bench import peer


def test_coco_conv_flops_by_hand():
    """600x1000: conv1 (stride 2) 300x500, pool1 ('full') 150x250, res3 75x125, res4 and the
    dilated res5 38x63. conv1 and res2 are fixed (no gradient); res3a reads the frozen res2
    (weight gradient only); the layers above compute weight and input gradients."""
    layers = peer.coco_training_conv_gflop()
    conv1 = 2.0 * 64 * 300 * 500 * 3 * 7 * 7 / 1e9
    assert layers['conv1'] == pytest.approx((conv1, 0.0))
    res2a_branch2b = 2.0 * 64 * 150 * 250 * 64 * 3 * 3 / 1e9
    assert layers['res2a_branch2b'] == pytest.approx((res2a_branch2b, 0.0))
    res3a_branch1 = 2.0 * 512 * 75 * 125 * 256 / 1e9
    assert layers['res3a_branch1'] == pytest.approx((res3a_branch1, res3a_branch1))
    cls_seg = 2.0 * (7 * 7 * 2 * 81) * 38 * 63 * 1024 / 1e9
    assert layers['fcis_cls_seg'] == pytest.approx((cls_seg, 2 * cls_seg))
    res5b_branch2b = 2.0 * 512 * 38 * 63 * 512 * 3 * 3 / 1e9
    assert layers['res5b_branch2b'] == pytest.approx((res5b_branch2b, 2 * res5b_branch2b))
    floor = peer.fcis_floor(200.0)
    assert floor['conv_gflop'] == pytest.approx(sum(f + b for f, b in layers.values()))
    assert floor['floor_s'] == pytest.approx(floor['conv_gflop'] / 200.0)


def test_floor_table_gives_the_largest_ratio():
    result = {'train_step_s': 6.0, 'train_step_gflop': 600.0}
    lines = peer.floor_table(result, {'conv_gflop': 800.0, 'floor_s': 4.0}, 200.0).splitlines()
    assert lines[2].split()[-4:] == ['6.00', '600', '100', '50%']
    assert lines[3].split()[-4:] == ['4.00', '800', '200', '100%']
    assert lines[4].endswith('faster than 4.00 s here, 1.50x the torchvision step at most')
    uncounted = peer.floor_table(dict(result, train_step_gflop=None),
                                 {'conv_gflop': 800.0, 'floor_s': 4.0}, 200.0).splitlines()
    assert uncounted[2].split()[-4:] == ['6.00', '-', '-', '-']


def test_without_torch_the_peer_is_skipped(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, 'torch', None)   # import torch raises ImportError
    assert peer.main([]) == 0
    assert capsys.readouterr().out.startswith('peer skipped: torch/torchvision not installed')
