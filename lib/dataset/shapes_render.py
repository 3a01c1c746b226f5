"""Rendering of one synthetic "shapes" image (used by ``lib.dataset.shapes``).

An image holds 1..N filled shapes (circle, square, triangle, star) of random size,
colour and rotation on a varied background (solid, gradient, smooth noise, stripes).
Shapes are painted in order, so later shapes occlude earlier ones; the label map records
which instance owns each pixel, which makes every visible mask exact. Everything is
drawn without anti-aliasing: a pixel belongs to exactly one instance or the background.
"""
import cv2
import numpy as np

CLASSES = ('circle', 'square', 'triangle', 'star')


def background(rng, height, width):
    """(H, W, 3) uint8 BGR background: solid, gradient, smooth noise or stripes, plus grain."""
    kind = rng.randint(4)
    c1, c2 = rng.randint(0, 256, size=(2, 3)).astype(np.float32)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    if kind == 0:                                            # solid
        image = np.broadcast_to(c1, (height, width, 3)).copy()
    elif kind == 1:                                          # linear gradient
        angle = rng.uniform(0, 2 * np.pi)
        t = xs * np.float32(np.cos(angle)) + ys * np.float32(np.sin(angle))   # float32 as xs
        t = (t - t.min()) / max(t.max() - t.min(), 1.0)      # (H, W) in [0, 1]
        image = c1 * (1 - t[..., None]) + c2 * t[..., None]
    elif kind == 2:                                          # smooth noise
        coarse = rng.randint(0, 256, size=(rng.randint(2, 7), rng.randint(2, 7), 3)).astype(np.float32)
        image = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    else:                                                    # stripes
        angle, period = rng.uniform(0, np.pi), rng.uniform(8, 40)
        t = xs * np.float32(np.cos(angle)) + ys * np.float32(np.sin(angle))
        on = (np.floor(t / period) % 2).astype(np.float32)[..., None]
        image = c1 * (1 - on) + c2 * on
    image = image + rng.normal(0, rng.uniform(0, 8), size=(height, width, 3))
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def shape_mask(cls, height, width, cx, cy, size, angle):
    """(H, W) bool mask of shape class ``cls`` (index into CLASSES) with circumradius size/2."""
    canvas = np.zeros((height, width), dtype=np.uint8)
    radius = size / 2.0
    if CLASSES[cls] == 'circle':
        cv2.circle(canvas, (int(round(cx)), int(round(cy))), int(round(radius)), 1, -1, cv2.LINE_8)
        return canvas.astype(bool)
    if CLASSES[cls] == 'star':
        n, radii = 10, np.where(np.arange(10) % 2 == 0, radius, 0.45 * radius)
    else:
        n = 4 if CLASSES[cls] == 'square' else 3
        radii = np.full(n, radius)
    theta = angle + 2 * np.pi * np.arange(n) / n
    points = np.stack([cx + radii * np.cos(theta), cy + radii * np.sin(theta)], axis=1)  # (n, 2)
    cv2.fillPoly(canvas, [np.round(points * 16).astype(np.int32)], 1, cv2.LINE_8, shift=4)
    return canvas.astype(bool)


def shape_color(rng, image, mask, min_contrast=80):
    """A random BGR colour that differs from the mean background under ``mask`` by >= min_contrast (L1)."""
    under = image[mask].astype(np.float32).mean(axis=0)
    color = rng.randint(0, 256, size=3)
    for _ in range(20):
        if np.abs(color - under).sum() >= min_contrast:
            break
        color = rng.randint(0, 256, size=3)
    return color.astype(np.uint8)


def render_sample(rng, height, width, num_shapes, min_shape_size, max_shape_size,
                  min_visible=64, max_hidden=0.6):
    """Render one image.

    Returns (image (H, W, 3) uint8 BGR, label map (H, W) int32 with 0 = background and
    i = instance i, instances: list of dicts {'class': 1-based class index, 'color': BGR}
    for instances 1..n). An instance is dropped (and its pixels repainted with the
    background) when fewer than ``min_visible`` of its pixels stay visible; a new shape is
    redrawn (up to 10 tries) if it would hide more than ``max_hidden`` of an earlier one.
    """
    back = background(rng, height, width)
    image, label = back.copy(), np.zeros((height, width), dtype=np.int32)
    shapes = []
    for _ in range(num_shapes):
        for _attempt in range(10):
            cls, size = rng.randint(len(CLASSES)), rng.uniform(min_shape_size, max_shape_size)
            cx, cy = rng.uniform(size / 4, width - size / 4), rng.uniform(size / 4, height - size / 4)
            mask = shape_mask(cls, height, width, cx, cy, size, rng.uniform(0, 2 * np.pi))
            visible = [(label == i + 1).sum() for i in range(len(shapes))]
            hidden = [(mask & (label == i + 1)).sum() / float(max(v, 1)) for i, v in enumerate(visible)]
            if mask.sum() >= min_visible and all(h <= max_hidden for h in hidden):
                break
        else:
            continue
        color = shape_color(rng, image, mask)
        image[mask], label[mask] = color, len(shapes) + 1
        shapes.append({'class': cls + 1, 'color': tuple(int(c) for c in color)})
    return _drop_fragments(image, label, back, shapes, min_visible)


def _drop_fragments(image, label, back, shapes, min_visible):
    """Repaint instances with < min_visible pixels as background; renumber the rest 1..n."""
    kept, new_label = [], np.zeros_like(label)
    for i, shape in enumerate(shapes):
        pixels = label == i + 1
        if pixels.sum() < min_visible:
            image[pixels] = back[pixels]
            continue
        kept.append(shape)
        new_label[pixels] = len(kept)
    return image, new_label, kept
