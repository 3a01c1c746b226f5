"""Detect instances on your own images with a trained FCIS model.

    from fcis.predictor import Predictor
    predictor = Predictor('experiments/fcis/cfgs/shapes_fcis_end2end.yaml',
                          'output/fcis/shapes/shapes_fcis_end2end/train/e2e-0007.params')
    for det in predictor('photo.png'):
        print(det.class_name, det.score, det.box)

An image becomes the network input exactly as in testing (fcis.core.minibatch.ImageInput:
the test scale (the first pair of TEST.SCALES, else of SCALES), network.PIXEL_MEANS, zero
padding to network.IMAGE_STRIDE), and the outputs become detections with the tester's
post-processing (fcis.core.tester.image_detections: TEST.MIN_DROP_SIZE/MIN_DROP_MODE, mask
voting per TEST.USE_MASK_MERGE/MASK_VOTE_MODE or per-class NMS, TEST.max_per_image). The
tester itself runs its batches through :meth:`Predictor.detect_batch`.
"""
import dataclasses

import mxnet as mx
import numpy as np

from fcis.config import load_config
from fcis.config.symbol_args import network_args
from fcis.core.minibatch import ImageInput
from fcis.core.model_file import load_model_file
from fcis.core.params import check_params
from fcis.core.run import contexts, load_imdb
from fcis.core.tester import ImageFrame, InferenceModule, image_detections, voting_backend
from fcis.symbols import get_test_symbol
from lib.dataset.coco_classes import COCO_CLASSES
from lib.dataset.shapes_render import CLASSES as SHAPES_CLASSES
from lib.masks.rle import decode_rle
from lib.utils.image import read_image
from lib.utils.ndarray_copy import to_ndarray
from lib.utils.vis import to_bgr_uint8


@dataclasses.dataclass(frozen=True)
class Detection:
    """One detected instance.

    class_id: 1..C-1 (index into the predictor's class_names); class_name; score in [0, 1];
    box: (x1, y1, x2, y2) floats, inclusive corners in original-image pixels;
    rle: COCO RLE dict {'size': [H, W], 'counts': str} of the full-image mask.
    """
    class_id: int
    class_name: str
    score: float
    box: tuple
    rle: dict

    @property
    def mask(self):
        """(H, W) bool full-image mask, decoded from ``rle``."""
        return decode_rle(self.rle).astype(bool)


@dataclasses.dataclass(frozen=True)
class Prediction:
    """Detections of one image in the tester's per-class layout.

    image: (H, W, 3) uint8 BGR, the image as detected; boxes[j]: (n_j, 5) float32
    [x1, y1, x2, y2, score] of class j; rles[j]: n_j RLEs (index 0, background, is empty);
    class_names: C names, background first.
    """
    image: np.ndarray
    boxes: list
    rles: list
    class_names: tuple

    def detections(self, score_thresh=0.0):
        """Detections with score >= score_thresh, highest score first (ties: class order)."""
        found = [Detection(j, self.class_names[j], float(row[4]), tuple(float(v) for v in row[:4]),
                           rle)
                 for j in range(1, len(self.boxes))
                 for row, rle in zip(self.boxes[j], self.rles[j]) if row[4] >= score_thresh]
        return sorted(found, key=lambda det: -det.score)


@dataclasses.dataclass(frozen=True)
class PreparedImage:
    """An image ready for the network: image (H, W, 3) uint8 BGR, batch (a DataBatch of
    data (1, 3, h', w') and im_info (1, 3)), frame (fcis.core.tester.ImageFrame)."""
    image: np.ndarray
    batch: mx.io.DataBatch
    frame: ImageFrame


def resolve_class_names(cfg, given=None):
    """The C names of classes 0..C-1, background first.

    given: None or '' (the shapes classes for the shapes dataset; else the dataset's, read
    from disk, or 'class j' when it is not there), 'coco' (the 80 COCO categories), a
    comma-separated string or a sequence of names without the background.
    Raises ValueError when their number is not dataset.NUM_CLASSES.
    """
    if isinstance(given, str) and given.strip().lower() == 'coco':
        names = ['__background__'] + list(COCO_CLASSES)
    elif isinstance(given, str) and given.strip():
        names = ['__background__'] + [n.strip() for n in given.split(',')]
    elif given is not None and not isinstance(given, str):
        names = ['__background__'] + [str(n) for n in given]
    elif cfg.dataset.dataset == 'shapes':
        names = ['__background__'] + list(SHAPES_CLASSES)
    else:
        try:
            names = list(load_imdb(cfg, 'test').classes)
        except (IOError, OSError, ValueError):
            names = ['__background__'] + ['class %d' % j for j in range(1, cfg.dataset.NUM_CLASSES)]
    if len(names) != cfg.dataset.NUM_CLASSES:
        raise ValueError('%d class names for dataset.NUM_CLASSES=%d (background included)'
                         % (len(names), cfg.dataset.NUM_CLASSES))
    return tuple(names)


def as_context(ctx, cfg):
    """mx.Context of ``ctx``: a Context, 'cpu', 'cpu:N', 'gpu' or 'gpu:N'; None: the first
    device of the config (``gpus``, else the CPU)."""
    if ctx is None:
        return contexts(cfg)[0]
    if isinstance(ctx, mx.Context):
        return ctx
    kind, _, index = str(ctx).strip().lower().partition(':')
    if kind not in ('cpu', 'gpu') or (index and not index.isdigit()):
        raise ValueError("device must be 'cpu', 'cpu:N', 'gpu' or 'gpu:N', got %r" % (ctx,))
    return mx.Context(kind, int(index or 0))


class Predictor(object):
    """A trained FCIS model that detects instances on one image at a time.

    cfg: a config YAML path or a loaded config (fcis.config.load_config);
    params: a .params file (our checkpoints or the release's fcis_coco-0000.params, read by
    fcis.core.model_file) or an (arg_params, aux_params) pair of NDArray dicts;
    ctx: device (see :func:`as_context`); class_names: see :func:`resolve_class_names`.
    Raises CheckpointError for a missing or unreadable file, ParamsError (a ValueError) when
    its parameters do not fit the config's model.
    """

    def __init__(self, cfg, params, ctx=None, class_names=None):
        self.cfg = load_config(cfg) if isinstance(cfg, str) else cfg
        self.class_names = resolve_class_names(self.cfg, class_names)
        self.ctx = as_context(ctx, self.cfg)
        self.image_input = ImageInput.from_cfg(self.cfg)
        self.backend = voting_backend(self.cfg.TEST, self.ctx)
        args = network_args(self.cfg, is_train=False, on_cpu=self.ctx.device_type == 'cpu')
        if isinstance(params, str):
            source = params
            params = load_model_file(params, args.test.bbox_means, args.test.bbox_stds)
        else:
            source = 'the given parameters'
        self._symbol = get_test_symbol(args)
        nominal = (1, 3, self.image_input.target_size, self.image_input.target_size)
        check_params(self._symbol, params, {'data': nominal}, source)
        self._params = params
        self._module = None

    @property
    def num_classes(self):
        """C, background included."""
        return len(self.class_names)

    def prepare(self, image):
        """PreparedImage of ``image``: a file path, or an (H, W), (H, W, 1), (H, W, 3) BGR or
        (H, W, 4) BGRA array (uint8; see lib.utils.vis.to_bgr_uint8 for other types)."""
        if isinstance(image, str):
            image = read_image(image)
        else:
            image = to_bgr_uint8(image)
        data, im_info = self.image_input.prepare(image)
        frame = ImageFrame(float(im_info[0, 2]), image.shape[0], image.shape[1],
                           data.shape[2], data.shape[3])
        batch = mx.io.DataBatch(data=[to_ndarray(data), to_ndarray(im_info)])
        return PreparedImage(image, batch, frame)

    def detect_batch(self, batch, frame):
        """Forward one DataBatch [data (1, 3, h', w'), im_info (1, 3)] and post-process it
        with ``frame`` (ImageFrame); returns the tester's (boxes, rles) per class."""
        if self._module is None:
            shapes = [('data', batch.data[0].shape), ('im_info', batch.data[1].shape)]
            arg_params, aux_params = self._params
            self._module = InferenceModule(self._symbol, arg_params, aux_params, self.ctx, shapes)
        outputs = self._module.predict(batch)
        return image_detections(outputs, frame, self.num_classes, self.cfg.TEST, self.backend)

    def predict(self, image):
        """Prediction (per-class boxes and RLEs) of one image (a path or an array)."""
        prepared = self.prepare(image)
        boxes, rles = self.detect_batch(prepared.batch, prepared.frame)
        return Prediction(prepared.image, boxes, rles, self.class_names)

    def __call__(self, image, score_thresh=0.0):
        """List of Detection of one image (a path or an array), highest score first."""
        return self.predict(image).detections(score_thresh)
