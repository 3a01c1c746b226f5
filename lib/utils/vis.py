"""Drawing of instance detections and ground truth: blended masks, boxes, names and scores.

Images are (H, W, 3) uint8 BGR (OpenCV layout); ``to_bgr_uint8`` converts grayscale,
single-channel, 4-channel (alpha dropped) and float images. Boxes are x1, y1, x2, y2
inclusive pixel corners; masks are COCO RLE dicts or (H, W) arrays, full-image size.
"""
import colorsys
import os

import cv2
import numpy as np
import pycocotools.mask as mask_util

FONT = cv2.FONT_HERSHEY_SIMPLEX


def to_bgr_uint8(image, rgb=False):
    """(H, W, 3) uint8 BGR copy of ``image``.

    image: (H, W), (H, W, 1), (H, W, 3) or (H, W, 4); uint8, bool, or float (values in
    [0, 1] are scaled by 255, others clipped to [0, 255]). rgb=True: 3/4-channel input is
    RGB/RGBA rather than BGR/BGRA.
    """
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]  # (H, W)
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
        raise ValueError('image must be (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got shape %s'
                         % (image.shape,))
    if image.dtype == np.bool_:
        image = image.astype(np.uint8) * 255
    elif image.dtype != np.uint8:
        image = image.astype(np.float64)
        if image.size and image.max() <= 1.0 and image.min() >= 0.0:
            image = image * 255.0
        image = np.clip(np.round(image), 0, 255).astype(np.uint8)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_RGBA2BGR if rgb else cv2.COLOR_BGRA2BGR)
    return cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if rgb else image.copy()


def distinct_colors(count, saturation=0.85, value=0.95):
    """(count, 3) uint8 BGR colors with hues spread by the golden ratio (all distinct)."""
    colors = np.zeros((count, 3), np.uint8)
    for k in range(count):
        hue = (0.08 + k * 0.6180339887) % 1.0
        red, green, blue = colorsys.hsv_to_rgb(hue, saturation, value)
        colors[k] = [int(round(255 * blue)), int(round(255 * green)), int(round(255 * red))]
    return colors


def mask_to_array(mask, height, width):
    """(H, W) bool array of a mask given as a COCO RLE dict or an (H, W) array."""
    if isinstance(mask, dict):
        if tuple(mask['size']) != (height, width):
            raise ValueError('mask RLE size %s does not match the image size %s: masks must be '
                             'full-image' % (list(mask['size']), [height, width]))
        return mask_util.decode(mask).astype(bool)
    mask = np.asarray(mask)
    if mask.shape != (height, width):
        raise ValueError('mask shape %s does not match the image size %s: masks must be '
                         'full-image' % (mask.shape, (height, width)))
    return mask.astype(bool)


def drawing_sizes(height, width):
    """(font scale, line thickness) that stay readable from thumbnails to full images."""
    short = min(height, width)
    return max(0.3, min(1.0, short / 800.0)), max(1, int(round(short / 400.0)))


def draw_label(image, text, x, y, color, font_scale, thickness):
    """Draw ``text`` on a filled ``color`` band whose top-left corner is near (x, y)."""
    (text_w, text_h), baseline = cv2.getTextSize(text, FONT, font_scale, 1)
    height, width = image.shape[:2]
    x = int(min(max(x, 0), max(width - text_w - 2, 0)))
    top = int(y - text_h - baseline - 2)
    if top < 0:  # no room above the box: put the label inside it
        top = int(min(max(y, 0), max(height - text_h - baseline - 2, 0)))
    bottom = top + text_h + baseline + 2
    cv2.rectangle(image, (x, top), (x + text_w + 2, bottom), tuple(int(c) for c in color), -1)
    luminance = 0.114 * color[0] + 0.587 * color[1] + 0.299 * color[2]
    text_color = (0, 0, 0) if luminance > 140 else (255, 255, 255)
    cv2.putText(image, text, (x + 1, bottom - baseline - 1), FONT, font_scale, text_color, 1,
                cv2.LINE_AA)


def zoom_for(height, width, min_side):
    """Integer zoom that brings the shorter side to at least ``min_side`` pixels (>= 1)."""
    return max(1, int(np.ceil(float(min_side) / max(1, min(height, width)))))


def draw_instances(image, boxes, masks, labels, class_names, scores=None, score_thresh=0.0,
                   alpha=0.5, colors=None, zoom=1):
    """Draw K instances on a copy of ``image``; returns (zoom*H, zoom*W, 3) uint8 BGR.

    boxes: (K, 4) x1, y1, x2, y2 inclusive; masks: K RLEs or (H, W) arrays, or None;
    labels: (K,) class indices into class_names; scores: (K,) or None (ground truth, no
    score text); instances with score < score_thresh are skipped. colors: (K, 3) BGR or None
    (distinct colors). Masks are blended with weight ``alpha`` and outlined. zoom: integer
    pixel replication of image and masks before drawing, so that text and outlines stay
    readable on small images.
    """
    canvas = to_bgr_uint8(image)
    height, width = canvas.shape[:2]
    zoom = int(zoom)
    if zoom > 1:
        canvas = cv2.resize(canvas, (width * zoom, height * zoom), interpolation=cv2.INTER_NEAREST)
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)  # (K, 4)
    labels = np.asarray(labels, np.int64).reshape(-1)  # (K,)
    count = boxes.shape[0]
    if labels.shape[0] != count or (masks is not None and len(masks) != count) or \
            (scores is not None and len(scores) != count):
        raise ValueError('draw_instances needs one label, mask and score per box (%d boxes)'
                         % count)
    colors = distinct_colors(count) if colors is None else np.asarray(colors, np.uint8)
    font_scale, thickness = drawing_sizes(height * zoom, width * zoom)
    keep = [k for k in range(count) if scores is None or scores[k] >= score_thresh]
    for k in keep:
        if masks is not None:
            mask = mask_to_array(masks[k], height, width)
            if zoom > 1:  # (H, W) -> (zoom*H, zoom*W) replicated pixels
                mask = np.repeat(np.repeat(mask, zoom, axis=0), zoom, axis=1)
            blended = (1.0 - alpha) * canvas[mask] + alpha * colors[k].astype(np.float64)
            canvas[mask] = np.round(blended).astype(np.uint8)
            contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL,
                                           cv2.CHAIN_APPROX_NONE)
            cv2.drawContours(canvas, contours, -1, tuple(int(c) for c in colors[k]), 1)
    for k in keep:
        x1, y1 = [int(round(v * zoom)) for v in boxes[k, :2]]
        x2, y2 = [int(round((v + 1) * zoom)) - 1 for v in boxes[k, 2:]]  # inclusive ends
        color = tuple(int(c) for c in colors[k])
        cv2.rectangle(canvas, (x1, y1), (x2, y2), color, thickness)
        name = class_names[labels[k]] if 0 <= labels[k] < len(class_names) else str(labels[k])
        text = name if scores is None else '%s %.2f' % (name, scores[k])
        draw_label(canvas, text, x1, y1, colors[k], font_scale, thickness)
    return canvas


def flatten_detections(boxes_per_class, masks_per_class):
    """Per-class detections of one image -> (K, 4) boxes, (K,) scores, (K,) labels, K masks.

    boxes_per_class[j]: (n, 5) x1, y1, x2, y2, score for class j (entry 0 ignored);
    masks_per_class[j]: n masks. Output is ordered by score, lowest first (drawn under).
    """
    boxes, scores, labels, masks = [np.zeros((0, 4))], [np.zeros(0)], [np.zeros(0, np.int64)], []
    for j in range(1, len(boxes_per_class)):
        dets = np.asarray(boxes_per_class[j], np.float64).reshape(-1, 5)  # (n, 5)
        boxes.append(dets[:, :4])
        scores.append(dets[:, 4])
        labels.append(np.full(dets.shape[0], j, np.int64))
        masks.extend(masks_per_class[j] if masks_per_class is not None else [None] * len(dets))
    boxes, scores, labels = np.concatenate(boxes), np.concatenate(scores), np.concatenate(labels)
    order = np.argsort(scores, kind='mergesort')
    return boxes[order], scores[order], labels[order], [masks[k] for k in order]


def draw_detections(image, boxes_per_class, masks_per_class, class_names, score_thresh=0.5,
                    alpha=0.5, zoom=1):
    """Draw the detections of one image (tester's per-class structure, see
    ``flatten_detections``) with score >= score_thresh; returns (zoom*H, zoom*W, 3) uint8 BGR."""
    boxes, scores, labels, masks = flatten_detections(boxes_per_class, masks_per_class)
    has_masks = masks_per_class is not None
    return draw_instances(image, boxes, masks if has_masks else None, labels, class_names,
                          scores=scores, score_thresh=score_thresh, alpha=alpha, zoom=zoom)


def draw_ground_truth(image, entry, class_names, alpha=0.5, zoom=1):
    """Draw a roidb entry's ground truth ('boxes' (K, 4), 'gt_classes' (K,), optional
    'masks' K RLEs) on ``image``; returns (zoom*H, zoom*W, 3) uint8 BGR."""
    return draw_instances(image, entry['boxes'], entry.get('masks'), entry['gt_classes'],
                          class_names, alpha=alpha, zoom=zoom)


def make_grid(images, titles=None, columns=2, gap=6, background=255):
    """Tile images (any sizes/channels) into one BGR uint8 picture, ``columns`` per row,
    each with an optional title band above it; cells are padded with ``background``."""
    if not images:
        raise ValueError('make_grid needs at least one image')
    images = [to_bgr_uint8(im) for im in images]
    titles = list(titles) if titles is not None else [None] * len(images)
    title_h = 22 if any(titles) else 0
    cell_h = max(im.shape[0] for im in images) + title_h
    title_w = max([cv2.getTextSize(str(t), FONT, 0.5, 1)[0][0] + 4 for t in titles if t] or [0])
    cell_w = max(max(im.shape[1] for im in images), title_w)  # titles are never cut
    rows = (len(images) + columns - 1) // columns
    columns = min(columns, len(images))
    grid = np.full((rows * cell_h + (rows + 1) * gap, columns * cell_w + (columns + 1) * gap, 3),
                   background, np.uint8)
    for k, (im, title) in enumerate(zip(images, titles)):
        top = gap + (k // columns) * (cell_h + gap)
        left = gap + (k % columns) * (cell_w + gap)
        if title:
            cv2.putText(grid, str(title), (left + 2, top + title_h - 6), FONT, 0.5, (0, 0, 0), 1,
                        cv2.LINE_AA)
        grid[top + title_h:top + title_h + im.shape[0], left:left + im.shape[1]] = im
    return grid


def draw_gt_vs_pred(image, gt_entry, boxes_per_class, masks_per_class, class_names,
                    score_thresh=0.5, min_side=400):
    """Side-by-side picture: ground truth (left) and detections >= score_thresh (right);
    images whose shorter side is under ``min_side`` are drawn at an integer zoom."""
    zoom = zoom_for(image.shape[0], image.shape[1], min_side)
    gt = draw_ground_truth(image, gt_entry, class_names, zoom=zoom)
    pred = draw_detections(image, boxes_per_class, masks_per_class, class_names, score_thresh,
                           zoom=zoom)
    return make_grid([gt, pred], ['ground truth', 'predictions (score >= %.2f)' % score_thresh],
                     columns=2)


def write_png(path, image):
    """Write ``image`` (any layout accepted by to_bgr_uint8) as a PNG file; returns path."""
    if not str(path).lower().endswith('.png'):
        raise ValueError('write_png writes PNG files: give a path ending in .png, got %s' % path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    if not cv2.imwrite(str(path), to_bgr_uint8(image)):
        raise IOError('cv2.imwrite could not write %s (check the folder is writable)' % path)
    return path
