"""fcis.predictor.Predictor: the tester's input preparation and post-processing, bit for bit,
on image paths and on arrays of every channel layout."""
import os

import cv2
import mxnet as mx
import numpy as np
import pytest

from fcis.config import load_config
from fcis.config.symbol_args import network_args
from fcis.core.loader import TestLoader as ImageTestLoader
from fcis.core.minibatch import ImageInput
from fcis.core.model_file import load_model_file
from fcis.core.tester import ImageFrame, InferenceModule, image_detections, run_test
from fcis.predictor import Predictor, resolve_class_names
from fcis.symbols import get_test_symbol
from lib.dataset.shapes import full_args, render_image
from lib.masks.rle import decode_rle

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
SHAPES_CFG = os.path.join(ROOT, 'experiments', 'fcis', 'cfgs', 'shapes_fcis_end2end.yaml')

SETTINGS = {  # the shapes config's post-processing, and the release's with a small cap
    'shapes': [],
    'release': ['TEST.MASK_VOTE_MODE=release', 'TEST.MIN_DROP_MODE=release',
                'TEST.max_per_image=7'],
}


@pytest.fixture(scope='module')
def shapes_image(tmp_path_factory):
    """(path, image) of shapes val image 0: 187 x 190 BGR, not a multiple of IMAGE_STRIDE."""
    image, _, _ = render_image(full_args(), 'val', 0)
    path = str(tmp_path_factory.mktemp('images') / 'val0.png')
    cv2.imwrite(path, image)
    return path, image


def detections_of_tester(cfg, params_path, image_path, image_shape):
    """The tester's pieces composed by hand on one image: TestLoader -> InferenceModule ->
    image_detections. Returns (boxes per class, rles per class)."""
    args = network_args(cfg, is_train=False)
    arg, aux = load_model_file(params_path, args.test.bbox_means, args.test.bbox_stds)
    entry = {'image': image_path, 'height': image_shape[0], 'width': image_shape[1],
             'flipped': False, 'image_id': 1}
    loader = ImageTestLoader([entry], image_input=ImageInput.from_cfg(cfg), num_workers=0)
    module = InferenceModule(get_test_symbol(args), arg, aux, mx.cpu(), loader.provide_data)
    batch = next(iter(loader))
    frame = ImageFrame(batch.scale, image_shape[0], image_shape[1], *batch.data[0].shape[2:4])
    return image_detections(module.predict(batch), frame, cfg.dataset.NUM_CLASSES, cfg.TEST)


def assert_same(prediction, boxes, rles):
    assert len(prediction.boxes) == len(boxes) == 5
    for j in range(1, 5):
        assert np.array_equal(prediction.boxes[j], boxes[j]), j
        assert prediction.rles[j] == rles[j], j


@pytest.mark.parametrize('setting', sorted(SETTINGS))
def test_predictor_gives_the_testers_detections(shapes_image, shapes_params_file, setting):
    path, image = shapes_image
    cfg = load_config(SHAPES_CFG, SETTINGS[setting])
    boxes, rles = detections_of_tester(cfg, shapes_params_file, path, image.shape)
    total = sum(len(b) for b in boxes[1:])
    assert 0 < total <= cfg.TEST.max_per_image

    predictor = Predictor(cfg, shapes_params_file, ctx='cpu')
    assert predictor.class_names == ('__background__', 'circle', 'square', 'triangle', 'star')
    prediction = predictor.predict(path)
    assert_same(prediction, boxes, rles)
    assert_same(predictor.predict(image), boxes, rles)  # an array: the same bits

    entry = {'image': path, 'height': image.shape[0], 'width': image.shape[1], 'image_id': 3}
    loader = ImageTestLoader([entry], image_input=predictor.image_input, num_workers=0)
    all_boxes, all_masks, image_ids, _ = run_test(predictor, loader)
    assert image_ids == [3]
    assert_same(prediction, all_boxes[0], all_masks[0])

    detections = predictor(path)
    assert len(detections) == total
    scores = [d.score for d in detections]
    assert scores == sorted(scores, reverse=True)
    best = detections[0]
    j = best.class_id
    row = int(np.argmax(boxes[j][:, 4]))
    assert best.class_name == predictor.class_names[j] and best.score == float(boxes[j][row, 4])
    assert best.box == tuple(float(v) for v in boxes[j][row, :4])
    assert best.rle == rles[j][row]
    assert best.mask.shape == image.shape[:2] and best.mask.dtype == np.bool_
    assert np.array_equal(best.mask, decode_rle(rles[j][row]).astype(bool))
    assert 0 < best.mask.sum() < best.mask.size
    kept = predictor(path, score_thresh=scores[3])
    assert [d.score for d in kept] == scores[:len(kept)] and len(kept) >= 4


def test_grey_and_four_channel_inputs(shapes_image, shapes_params_file, tmp_path, test_seed):
    path, image = shapes_image
    predictor = Predictor(SHAPES_CFG, shapes_params_file, ctx=mx.cpu())
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)  # (H, W)
    as_bgr = predictor.predict(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR))
    # random weights give many detections, so the comparisons below are not vacuous
    assert sum(len(b) for b in as_bgr.boxes[1:]) > 50
    for variant in (grey, grey[:, :, None]):
        got = predictor.predict(variant)
        assert got.image.shape == image.shape
        assert_same(got, as_bgr.boxes, as_bgr.rles)
    grey_path = str(tmp_path / 'grey.png')
    cv2.imwrite(grey_path, grey)
    assert_same(predictor.predict(grey_path), as_bgr.boxes, as_bgr.rles)

    alpha = np.random.RandomState(test_seed).randint(0, 256, image.shape[:2] + (1,))
    alpha = alpha.astype(np.uint8)
    bgra = np.concatenate([image, alpha], axis=2)  # (H, W, 4): alpha is ignored
    color = predictor.predict(image)
    assert_same(predictor.predict(bgra), color.boxes, color.rles)
    bgra_path = str(tmp_path / 'bgra.png')
    cv2.imwrite(bgra_path, bgra)
    assert_same(predictor.predict(bgra_path), color.boxes, color.rles)
    assert not np.array_equal(color.boxes[1], as_bgr.boxes[1])  # grey is another input


def test_input_is_padded_to_image_stride(shapes_image, shapes_params_file):
    path, image = shapes_image
    predictor = Predictor(SHAPES_CFG, shapes_params_file)
    prepared = predictor.prepare(image)
    # 187 x 190 -> the test scale's shorter side 224 (scale 224/187): 224 x 228, padded to
    # 224 x 240 (stride 16)
    assert prepared.batch.data[0].shape == (1, 3, 224, 240)
    info = prepared.batch.data[1].asnumpy()
    np.testing.assert_array_equal(info, np.float32([[224, 228, 224.0 / 187]]))
    frame = prepared.frame
    sizes = (frame.height, frame.width, frame.input_height, frame.input_width)
    assert sizes == (187, 190, 224, 240)
    data = prepared.batch.data[0].asnumpy()
    assert np.all(data[:, :, :, 228:] == 0) and np.all(data[:, :, :, 227] != 0)


def test_class_names_and_devices():
    cfg = load_config(SHAPES_CFG)
    assert resolve_class_names(cfg, ['a', 'b', 'c', 'd'])[1:] == ('a', 'b', 'c', 'd')
    assert resolve_class_names(cfg, 'a, b,c,d')[1:] == ('a', 'b', 'c', 'd')
    with pytest.raises(ValueError, match='3 class names for dataset.NUM_CLASSES=5'):
        resolve_class_names(cfg, 'a,b')
    from fcis.predictor import as_context
    assert as_context('gpu:1', cfg) == mx.gpu(1) and as_context(None, cfg) == mx.cpu(0)
    with pytest.raises(ValueError, match="got 'tpu'"):
        as_context('tpu', cfg)


def test_params_of_another_model_are_refused(shapes_params_file):
    cfg = load_config(SHAPES_CFG, ['dataset.NUM_CLASSES=3'])
    with pytest.raises(ValueError, match='model-0001.params does not fit the symbol.*fcis_cls_seg'):
        Predictor(cfg, shapes_params_file, class_names='a,b')


@pytest.mark.parametrize('device,fused', [('cpu', True), ('gpu', False)])
def test_predictor_fuses_batchnorm_and_relu_only_on_the_cpu(tmp_path, device, fused):
    """A config without GPUs used on a GPU (Predictor ctx='gpu') gets the two-operator
    BatchNorm + ReLU: the fused operator has no GPU kernel. Nothing is bound here."""
    import json
    from fcis.core.params import load_params
    from lib.utils.checkpoint import save_params
    from lib.utils.mxnet_env import mxnet_has_onednn
    cfg = load_config(SHAPES_CFG, ['TEST.BN_IMAGE_STATS=false'])
    symbol = get_test_symbol(network_args(cfg, is_train=False, on_cpu=False))
    mx.random.seed(0)
    arg, aux = load_params(symbol, {'data': (1, 3, 224, 224)}, '', 0)
    path = save_params(str(tmp_path / 'model-0001.params'), arg, aux)
    predictor = Predictor(cfg, path, ctx=device)
    ops = {n['op'] for n in json.loads(predictor._symbol.tojson())['nodes']}
    assert ('_contrib_BatchNormWithReLU' in ops) == (fused and mxnet_has_onednn())
    assert 'BatchNorm' in ops
