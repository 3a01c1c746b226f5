"""Testing any .params file: the FCIS release's layout (our names plus the fcis_bbox *_test
pair with the box normalization folded in) gives the same detections as our checkpoint
layout, box de-normalization applied exactly once; a COCO test-dev set (image info only)
writes the evaluation-server file and skips evaluation."""
import importlib.util
import json
import logging
import os

import cv2
import mxnet as mx
import numpy as np
import pytest

from fcis.config import load_config
from fcis.config.symbol_args import network_args
from fcis.core.model_file import fold_box_norm, resolve_test_keys
from fcis.core.params import FCISInitializer, load_params
from fcis.symbols import get_test_symbol
from lib.utils.checkpoint import save_params

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
CFG = os.path.join(ROOT, 'experiments', 'fcis', 'cfgs', 'shapes_fcis_end2end.yaml')
ENTRY = os.path.join(ROOT, 'experiments', 'fcis', 'fcis_end2end_test.py')
STDS, MEANS = (0.2, 0.2, 0.5, 0.5), (0.0, 0.0, 0.0, 0.0)
CATEGORIES = [{'id': i + 1, 'name': n} for i, n in enumerate(['circle', 'square', 'triangle', 'star'])]


def random_params(seed):
    """Random parameters of the shapes test symbol, the box layer's bias made nonzero so that
    its normalization matters."""
    cfg = load_config(CFG)
    symbol = get_test_symbol(network_args(cfg, is_train=False))
    mx.random.seed(seed)
    arg, aux = load_params(symbol, {'data': (1, 3, 128, 160)}, '', 0, initializer=FCISInitializer())
    rng = np.random.RandomState(seed)
    arg['fcis_bbox_bias'] = mx.nd.array(rng.normal(0, 0.5, arg['fcis_bbox_bias'].shape))
    arg['fcis_bbox_weight'] = arg['fcis_bbox_weight'] * 30  # deltas large enough to move boxes
    return arg, aux


def with_test_pair(arg):
    weight, bias = arg['fcis_bbox_weight'].asnumpy(), arg['fcis_bbox_bias'].asnumpy()
    test_w, test_b = fold_box_norm(weight, bias, MEANS, STDS)
    return dict(arg, fcis_bbox_weight_test=mx.nd.array(test_w),
                fcis_bbox_bias_test=mx.nd.array(test_b))


def test_fold_box_norm_matches_the_release_layout():
    weight = np.ones((392, 3, 1, 1), np.float32)
    bias = np.ones(392, np.float32)
    test_w, test_b = fold_box_norm(weight, bias, (1, 2, 3, 4), (0.1, 0.2, 0.3, 0.4))
    # channel c belongs to delta c // 49 of [bg dx dy dw dh, fg dx dy dw dh]
    np.testing.assert_allclose(test_w[[0, 48, 49, 147, 196, 391], 0, 0, 0],
                               [0.1, 0.1, 0.2, 0.4, 0.1, 0.4], rtol=1e-6)
    np.testing.assert_allclose(test_b[[0, 49, 98, 147, 196, 391]], [1.1, 2.2, 3.3, 4.4, 1.1, 4.4],
                               rtol=1e-6)


def test_resolve_test_keys(caplog, test_seed):
    arg, _ = random_params(test_seed)
    release = with_test_pair(arg)
    resolved = resolve_test_keys(release, MEANS, STDS)
    assert sorted(resolved) == sorted(arg)
    assert np.array_equal(resolved['fcis_bbox_weight'].asnumpy(), arg['fcis_bbox_weight'].asnumpy())
    only_test = {k: v for k, v in release.items() if k not in ('fcis_bbox_weight', 'fcis_bbox_bias')}
    recovered = resolve_test_keys(only_test, MEANS, STDS)
    assert sorted(recovered) == sorted(arg)
    np.testing.assert_allclose(recovered['fcis_bbox_bias'].asnumpy(),
                               arg['fcis_bbox_bias'].asnumpy(), rtol=1e-5, atol=1e-6)
    with caplog.at_level(logging.WARNING):  # a logger of its own: an earlier in-process run
        # may have set the project's loggers not to propagate to caplog's root handler
        resolve_test_keys(with_test_pair(arg), MEANS, (0.1, 0.1, 0.2, 0.2),
                          logger=logging.getLogger('test_release_params'))
    assert 'not the trained one folded' in caplog.text


def write_test_dev(root, rng):
    """A COCO-format test-dev2015 of two images: annotations/image_info_test-dev2015.json
    (images and categories, no annotations) and images/test2015/*.png."""
    folder = root / 'coco' / 'images' / 'test2015'
    folder.mkdir(parents=True)
    images = []
    for image_id, (h, w) in [(7, (120, 150)), (9, (100, 160))]:
        name = 'COCO_test2015_%012d.png' % image_id
        picture = np.full((h, w, 3), 60, np.uint8)
        cv2.circle(picture, (w // 2, h // 2), 30, (30, 200, 240), -1)
        cv2.imwrite(str(folder / name), picture + rng.randint(0, 20, picture.shape).astype(np.uint8))
        images.append({'id': image_id, 'file_name': name, 'height': h, 'width': w})
    (root / 'coco' / 'annotations').mkdir()
    info = {'images': images, 'categories': CATEGORIES, 'info': {'description': 'hand-made'}}
    (root / 'coco' / 'annotations' / 'image_info_test-dev2015.json').write_text(json.dumps(info))


def run_entry(tmp_path, params_path, tag):
    """experiments/fcis/fcis_end2end_test.py --params on the test-dev set -> (metrics, results)."""
    spec = importlib.util.spec_from_file_location('fcis_end2end_test', ENTRY)
    entry = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(entry)
    out = tmp_path / ('out_' + tag)
    metrics, output_dir = entry.main([
        '--cfg', CFG, '--params', str(params_path), 'output_path=%s' % out,
        'dataset.dataset=coco', 'dataset.root_path=%s' % tmp_path,
        'dataset.dataset_path=%s' % (tmp_path / 'coco'), 'dataset.test_image_set=test-dev2015',
        'SCALES=[[128,160]]', 'network.ANCHOR_SCALES=[2,4,8]', 'TEST.VIS_NUM=0',
        'TEST.MASK_VOTE_MODE=release', 'TEST.MIN_DROP_MODE=release'])
    results_file = os.path.join(output_dir,
                                'detections_test-dev2015_shapes-fcis-end2end_results.json')
    assert metrics['results_file'] == results_file
    assert not os.path.exists(os.path.join(output_dir, 'metrics.json'))
    with open(os.path.join(output_dir, 'test.log')) as f:
        assert 'test-dev2015 has no annotations: evaluation skipped' in f.read()
    with open(results_file) as f:
        return json.load(f)


@pytest.mark.slow
def test_release_params_file_tests_end_to_end_on_test_dev(tmp_path, test_seed):
    write_test_dev(tmp_path, np.random.RandomState(test_seed + 1))
    arg, aux = random_params(test_seed)
    ours = save_params(str(tmp_path / 'ours-0001.params'), arg, aux)
    release = save_params(str(tmp_path / 'fcis_coco-0000.params'), with_test_pair(arg), aux)
    # the folded pair used as the trained one: the deltas de-normalized twice
    twice = with_test_pair(arg)
    twice['fcis_bbox_weight'], twice['fcis_bbox_bias'] = (twice['fcis_bbox_weight_test'],
                                                          twice['fcis_bbox_bias_test'])
    twice_path = save_params(str(tmp_path / 'twice-0000.params'),
                             {k: v for k, v in twice.items() if not k.endswith('_test')}, aux)

    results_ours = run_entry(tmp_path, ours, 'ours')
    assert len(results_ours) > 20
    assert {r['image_id'] for r in results_ours} == {7, 9}
    assert {r['category_id'] for r in results_ours} <= {1, 2, 3, 4}
    assert all(r['segmentation']['size'] in ([120, 150], [100, 160]) for r in results_ours)
    assert run_entry(tmp_path, release, 'release') == results_ours
    assert run_entry(tmp_path, twice_path, 'twice') != results_ours
