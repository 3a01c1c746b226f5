"""COCO run-length encoding (RLE) helpers on top of pycocotools.mask.

An RLE here is a dict {"size": [h, w], "counts": str}: counts is a str (not bytes) so the
dict is JSON-serializable as is; pycocotools accepts both (normalize_rle turns one into the
other).
"""
import numpy as np
import pycocotools.mask as mask_util


def normalize_rle(rle, counts_type=str):
    """Copy of a compressed COCO RLE with ``size`` as two ints and ``counts`` as
    ``counts_type``: str (JSON-serializable) or bytes (as pycocotools.mask.encode gives it).

    Raises TypeError for uncompressed counts (a list of run lengths).
    """
    counts = rle['counts']
    if not isinstance(counts, (bytes, str)):
        raise TypeError('RLE counts must be compressed (bytes or str), got %s: encode masks '
                        'with pycocotools.mask.encode' % type(counts).__name__)
    if counts_type is str and isinstance(counts, bytes):
        counts = counts.decode('ascii')
    elif counts_type is bytes and isinstance(counts, str):
        counts = counts.encode('ascii')
    return {'size': [int(rle['size'][0]), int(rle['size'][1])], 'counts': counts}


def encode_mask(mask):
    """Binary mask(s) -> RLE(s).

    mask: (H, W) -> one RLE dict; (N, H, W) -> list of N RLE dicts. Nonzero = foreground.
    """
    mask = np.asarray(mask)
    if mask.ndim == 2:
        return encode_mask(mask[None])[0]
    if mask.ndim != 3:
        raise ValueError('encode_mask: mask must have shape (H, W) or (N, H, W), got %s'
                         % (mask.shape,))
    if mask.shape[0] == 0:
        return []
    stack = np.asfortranarray((mask != 0).transpose(1, 2, 0).astype(np.uint8))  # (H, W, N)
    return [normalize_rle(rle) for rle in mask_util.encode(stack)]


def check_crop_fits(shape, x1, y1, im_h, im_w):
    """Raise ValueError unless an (h, w) crop at (x1, y1) lies inside an im_h x im_w image
    (an empty crop fits anywhere)."""
    h, w = shape
    if h and w and (x1 < 0 or y1 < 0 or x1 + w > im_w or y1 + h > im_h):
        raise ValueError('encode_crop: a %dx%d crop at (x1=%d, y1=%d) does not fit a %dx%d '
                         'image' % (h, w, x1, y1, im_h, im_w))


def crop_run_lengths(crop, x1, y1, im_h, im_w):
    """COCO run lengths (column-major, first run zeros) of an (im_h, im_w) mask that is zero
    except for ``crop`` (h, w) at (x1, y1), computed on the crop's w image columns only.
    NumPy reference of lib.masks.mask_voting_cython.crop_run_lengths. -> (n,) int64."""
    crop = np.asarray(crop)
    h, w = crop.shape
    if crop.size == 0:
        return np.array([im_h * im_w], dtype=np.int64)
    strip = np.zeros((w, im_h), dtype=np.uint8)  # (w, H): the crop's image columns
    strip[:, y1:y1 + h] = crop.T != 0
    values = strip.ravel()  # column-major order of the (H, w) strip
    starts = np.flatnonzero(values[1:] != values[:-1]) + 1
    runs = np.diff(np.concatenate([[0], starts, [values.size]]))  # alternating runs
    before, after = x1 * im_h, (im_w - x1 - w) * im_h  # zeros left / right of the strip
    runs = np.concatenate([[before], runs]) if values[0] else \
        np.concatenate([[runs[0] + before], runs[1:]])
    if after:
        runs = np.concatenate([runs, [after]]) if values[-1] else \
            np.concatenate([runs[:-1], [runs[-1] + after]])
    return runs.astype(np.int64)


def encode_crop(crop, x1, y1, im_h, im_w):
    """RLE of an (im_h, im_w) mask that is zero except for ``crop`` placed at (x1, y1).

    crop: (h, w) array (nonzero = foreground) covering rows y1..y1+h-1 and columns
    x1..x1+w-1, inside the image (an empty crop gives the empty mask). Returns the dict
    encode_mask gives for the full mask without building it (crop_run_lengths).
    """
    crop = np.asarray(crop)
    check_crop_fits(crop.shape, x1, y1, im_h, im_w)
    return encode_runs(crop_run_lengths(crop, x1, y1, im_h, im_w), im_h, im_w)


def encode_runs(runs, im_h, im_w):
    """COCO run lengths (column-major, first run zeros) of an (im_h, im_w) mask -> the
    compressed RLE dict of encode_mask."""
    counts = np.asarray(runs, dtype=np.int64).tolist()
    rle = mask_util.frPyObjects({'counts': counts, 'size': [im_h, im_w]}, im_h, im_w)
    return normalize_rle(rle)


def decode_rle(rle):
    """RLE(s) -> binary mask(s).

    rle: one dict -> (H, W) uint8; list of N dicts (same size) -> (N, H, W) uint8.
    """
    if isinstance(rle, dict):
        return mask_util.decode(rle).astype(np.uint8)
    rles = list(rle)
    if not rles:
        raise ValueError('decode_rle: got an empty list; its image size is unknown')
    return np.ascontiguousarray(mask_util.decode(rles).transpose(2, 0, 1))  # (N, H, W)


def rle_area(rle):
    """Foreground pixel count: one dict -> int; list -> (N,) int64 array."""
    if isinstance(rle, dict):
        return int(mask_util.area(rle))
    rles = list(rle)
    return np.asarray(mask_util.area(rles), dtype=np.int64) if rles else np.zeros(0, np.int64)


def mask_iou(dt_rles, gt_rles, iscrowd=None):
    """IoU between detection and ground-truth RLEs (pycocotools.mask.iou).

    dt_rles: list of D RLEs; gt_rles: list of G RLEs (same image size)
    iscrowd: (G,) flags; for a crowd gt the IoU is intersection / detection area
    returns: (D, G) float64.
    """
    dt_rles, gt_rles = list(dt_rles), list(gt_rles)
    if not dt_rles or not gt_rles:
        return np.zeros((len(dt_rles), len(gt_rles)), dtype=np.float64)
    if iscrowd is None:
        iscrowd = [0] * len(gt_rles)
    if len(iscrowd) != len(gt_rles):
        raise ValueError('mask_iou: iscrowd has %d flags for %d ground-truth masks'
                         % (len(iscrowd), len(gt_rles)))
    return np.asarray(mask_util.iou(dt_rles, gt_rles, [int(c) for c in iscrowd]),
                      dtype=np.float64).reshape(len(dt_rles), len(gt_rles))


def polygons_to_rle(polygons, height, width):
    """COCO polygons of one object -> one RLE (the union of its parts).

    polygons: list of flat [x1, y1, x2, y2, ...] lists (at least 3 points each)
    """
    polygons = [list(map(float, p)) for p in polygons]
    if not polygons:
        return encode_mask(np.zeros((height, width), dtype=np.uint8))
    for p in polygons:
        if len(p) < 6 or len(p) % 2:
            raise ValueError('polygons_to_rle: a polygon needs an even number (>= 6) of '
                             'coordinates, got %d' % len(p))
    parts = mask_util.frPyObjects(polygons, height, width)
    return normalize_rle(mask_util.merge(parts))


def annotation_to_rle(segmentation, height, width):
    """Any COCO ``segmentation`` field of a (height, width) image -> one compressed RLE with
    str counts.

    segmentation: polygon list (parts with fewer than 3 points are left out; with none left
    the mask is empty), uncompressed RLE ({"size": [h, w], "counts": [ints]}) or compressed
    RLE. Raises ValueError for another format or an RLE of another size than the image.
    """
    if isinstance(segmentation, list):
        polygons = [p for p in segmentation if len(p) >= 6 and len(p) % 2 == 0]
        return polygons_to_rle(polygons, height, width)
    if not isinstance(segmentation, dict) or 'counts' not in segmentation:
        raise ValueError('unknown segmentation format %r; expected polygons or an RLE dict'
                         % type(segmentation).__name__)
    if 'size' not in segmentation:
        raise ValueError("an RLE segmentation needs 'size' [height, width]")
    if list(segmentation['size']) != [height, width]:
        raise ValueError('segmentation size %s differs from the image size %s'
                         % (list(segmentation['size']), [height, width]))
    if isinstance(segmentation['counts'], list):
        segmentation = mask_util.frPyObjects(segmentation, height, width)
    return normalize_rle(segmentation)
