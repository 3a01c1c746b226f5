"""Image I/O and the geometric transforms shared by the training and test loaders.

Images are NumPy arrays in OpenCV's layout: (H, W, 3) uint8, BGR channel order.
"""
import os

import cv2
import numpy as np


def read_image(path, flipped=False):
    """Read an image file as (H, W, 3) uint8 BGR, mirrored left-right when ``flipped``.

    The pixels are taken as stored: an EXIF orientation tag is ignored, since COCO-style
    annotations are drawn on the stored pixel grid (the original release reads images the
    same way).
    Raises IOError naming the file when it is missing, unreadable or corrupt.
    """
    if not os.path.isfile(path):
        raise IOError('image file not found: %s (check the dataset layout in data/README.md)' % path)
    image = cv2.imread(path, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if image is None:
        raise IOError('cannot decode image %s: the file is corrupt or not an image '
                      '(replace it or remove it from the annotations)' % path)
    if flipped:
        image = image[:, ::-1, :]
    return image


# first bytes of the formats whose end can be checked cheaply -> (format, bytes ending the file)
_COMPLETE_END = ((b'\xff\xd8\xff', 'JPEG', b'\xff\xd9'), (b'\x89PNG\r\n\x1a\n', 'PNG', b'IEND'))
_TAIL_BYTES = 4096


def _decodes_fully(path):
    """True when Pillow (if installed) decodes every pixel of ``path`` without error."""
    try:
        from PIL import Image
    except ImportError:
        return False
    try:
        with Image.open(path) as im:
            im.load()
        return True
    except Exception:  # Pillow raises OSError, SyntaxError, ValueError ... for broken files
        return False


def check_image_file(path):
    """Raise IOError naming ``path`` unless it is an image file that decodes completely.

    Cheap for JPEG and PNG (the first bytes and the end marker in the last 4 KiB are read;
    a file without the marker is decoded to be sure); any other file is decoded with OpenCV.
    A truncated JPEG would otherwise decode silently with gray rows.
    """
    if not os.path.isfile(path):
        raise IOError('image file not found: %s' % path)
    with open(path, 'rb') as f:
        head = f.read(8)
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - _TAIL_BYTES))
        tail = f.read()
    for magic, name, end in _COMPLETE_END:
        if head.startswith(magic):
            if end not in tail and not _decodes_fully(path):
                raise IOError('image file %s is a truncated or corrupt %s (it does not decode '
                              'to its end)' % (path, name))
            return
    if cv2.imread(path, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION) is None:
        raise IOError('image file %s is not an image OpenCV can read (it starts with %r)'
                      % (path, head))


def normalize_scales(scales):
    """Return the list of (short, max_long) pairs given one pair or a list of pairs.

    ``(600, 1000)`` and ``[(600, 1000)]`` both give ``[(600, 1000)]``.
    """
    scales = list(scales)
    if len(scales) == 2 and all(np.isscalar(s) for s in scales):
        scales = [tuple(scales)]
    pairs = [tuple(int(v) for v in pair) for pair in scales]
    for pair in pairs:
        if len(pair) != 2 or pair[0] <= 0 or pair[1] < pair[0]:
            raise ValueError('scales must be (shorter side, max longer side) pairs with '
                             '0 < short <= long, got %r' % (scales,))
    return pairs


def compute_scale(height, width, target_size, max_size):
    """Factor that brings the shorter side to ``target_size`` with the longer <= ``max_size``."""
    short, long_ = min(height, width), max(height, width)
    scale = float(target_size) / float(short)
    if np.round(scale * long_) > max_size:
        scale = float(max_size) / float(long_)
    return scale


def scaled_size(height, width, scale):
    """(new_height, new_width) of an image resized by ``scale`` (rounded, at least 1)."""
    return max(1, int(np.round(height * scale))), max(1, int(np.round(width * scale)))


def resized_size(height, width, target_size, max_size):
    """((new_height, new_width), scale) of a ``height`` x ``width`` image that
    ``resize_image`` resizes to ``target_size`` / ``max_size``."""
    scale = compute_scale(height, width, target_size, max_size)
    return scaled_size(height, width, scale), scale


def resize_image(image, target_size, max_size):
    """Resize (H, W, C) ``image`` by ``compute_scale``; returns (resized image, scale)."""
    (new_h, new_w), scale = resized_size(image.shape[0], image.shape[1], target_size, max_size)
    resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    return resized, scale


def resize_masks(masks, new_height, new_width):
    """Resize (K, H, W) binary masks to (K, new_height, new_width) float32 in {0, 1}.

    Bilinear resampling then a 0.5 threshold, so thin parts survive downscaling like
    the image does.
    """
    out = np.zeros((masks.shape[0], new_height, new_width), dtype=np.float32)
    for k in range(masks.shape[0]):
        resized = cv2.resize(masks[k].astype(np.float32), (new_width, new_height),
                             interpolation=cv2.INTER_LINEAR)
        out[k] = resized >= 0.5
    return out


def image_to_tensor(image, pixel_means):
    """(H, W, 3) BGR image -> (1, 3, H, W) float32 network input in RGB channel order.

    ``pixel_means`` are BGR (as OpenCV reads images) and are subtracted before the channels
    are reversed; the public MXNet ResNet-v1 models were trained on RGB input this way.
    """
    means = np.asarray(pixel_means, dtype=np.float32)      # (3,) BGR
    tensor = np.empty((1, 3) + image.shape[:2], dtype=np.float32)
    for c, plane in enumerate(cv2.split(image)):            # B, G, R planes (H, W)
        # float32(pixel) - float32(mean), written straight into plane 2 - c (RGB order)
        np.subtract(plane, means[c], out=tensor[0, 2 - c], dtype=np.float32)
    return tensor                                           # (1, 3, H, W) RGB


def tensor_to_image(tensor, pixel_means):
    """Inverse of ``image_to_tensor``: (1, 3, H, W) RGB float32 -> (H, W, 3) uint8 BGR."""
    bgr = tensor[0].transpose(1, 2, 0)[:, :, ::-1]  # (H, W, 3) BGR
    image = bgr + np.asarray(pixel_means, dtype=np.float32)
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def round_up(value, stride):
    """Smallest multiple of ``stride`` >= value (``value`` itself when stride <= 0)."""
    if stride <= 0:
        return int(value)
    return int(np.ceil(value / float(stride)) * stride)


def pad_tensors(tensors, height, width, fill=0.0):
    """Stack (1, C, h_i, w_i) arrays into (N, C, height, width), padding bottom/right with ``fill``."""
    first = tensors[0]
    out = np.full((len(tensors), first.shape[1], height, width), fill, dtype=first.dtype)
    for i, t in enumerate(tensors):
        out[i, :, :t.shape[2], :t.shape[3]] = t[0]
    return out
