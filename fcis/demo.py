"""Draw FCIS detections on images and videos:

    python fcis/demo.py --cfg experiments/fcis/cfgs/shapes_fcis_end2end.yaml \\
        --params output/fcis/shapes/shapes_fcis_end2end/train/e2e-0007.params \\
        --images data/shapes/images/val --out output/demo [--thresh 0.5] [KEY=VALUE ...]
    python fcis/demo.py --cfg <yaml> --params <file> --video in.mp4 --out out.mp4

For every image (any size; grayscale, BGR or BGRA/RGBA files), writes <out>/<name>.png with
each instance's mask in its own color, its box, class name and score, and prints how many
instances it drew. For every video (--video, or a file with a video extension among
--images) writes an annotated video of the same size and frame rate: to --out itself when
it names a video file (one input video), else to <out>/<name>.mp4; prints the frames per
second processed. Images and frames are prepared and post-processed exactly as in testing
(fcis.predictor.Predictor). Class names come from --classes (comma-separated, or 'coco' for
the 80 COCO categories), else from the config's dataset. --params takes any MXNet .params
file with our names, the FCIS release's fcis_coco-0000.params included:

    python fcis/demo.py --cfg experiments/fcis/cfgs/resnet_v1_101_coco_fcis_end2end_ohem.yaml \\
        --params model/fcis_coco-0000.params --images demo/ --out output/demo --classes coco

KEY=VALUE overrides may stand anywhere on the command line; a failure the user can fix ends
in one line "error: ..." and exit status 1 (--debug shows the traceback).
"""
import argparse
import dataclasses
import os
import sys
import time

if __name__ == '__main__':  # entry point: make the repository importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import lib  # noqa: E402,F401  (sets OMP_NUM_THREADS before MXNet loads)
from fcis.cli import run_main  # noqa: E402
from fcis.config import load_config  # noqa: E402
from fcis.predictor import Predictor  # noqa: E402
from lib.utils.folders import make_folder  # noqa: E402
from lib.utils.video import (is_video_path, open_video, open_writer, read_frames,  # noqa: E402
                             write_codec)
from lib.utils.vis import draw_detections, write_png, zoom_for  # noqa: E402

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp')
MIN_PICTURE_SIDE = 400  # smaller images are drawn at an integer zoom: labels stay readable
OUT_FIX = 'give another folder with --out'
PROGRESS_FRAMES = 100  # a progress line every this many video frames


def list_inputs(items):
    """(image paths, video paths) named by ``items``: files (videos told by extension), or
    folders whose images are taken sorted. Raises IOError naming a missing item."""
    images, videos = [], []
    for item in items:
        if os.path.isdir(item):
            images += sorted(os.path.join(item, f) for f in os.listdir(item)
                             if f.lower().endswith(IMAGE_EXTENSIONS))
        elif not os.path.isfile(item):
            raise IOError('no such image, video or folder: %s' % item)
        else:
            (videos if is_video_path(item) else images).append(item)
    if not images and not videos:
        raise IOError('no image files (%s) in %s' % (', '.join(IMAGE_EXTENSIONS), ', '.join(items)))
    return images, videos


def video_outputs(videos, images, out):
    """Output path of each input video: ``out`` itself when it names a video file (then
    exactly one input video and no image), else <out>/<name>.mp4."""
    if not is_video_path(out):
        return [os.path.join(out, os.path.splitext(os.path.basename(v))[0] + '.mp4')
                for v in videos]
    if len(videos) != 1 or images:
        raise ValueError('--out %s names a video file: give exactly one video (and no image), '
                         'or an output folder' % out)
    write_codec(out)
    return [out]


def draw(prediction, thresh, zoom=1):
    """(zoom*H, zoom*W, 3) uint8 BGR picture of a Prediction's detections >= thresh."""
    return draw_detections(prediction.image, prediction.boxes, prediction.rles,
                           prediction.class_names, score_thresh=thresh, zoom=zoom)


def count_shown(prediction, thresh):
    """Number of detections with score >= thresh."""
    return sum(int((d[:, 4] >= thresh).sum()) for d in prediction.boxes[1:])


def run_images(predictor, paths, out_dir, thresh):
    """Detect and draw on every image; returns the written PNG paths."""
    written = []
    for path in paths:
        prediction = predictor.predict(path)
        height, width = prediction.image.shape[:2]
        picture = draw(prediction, thresh, zoom_for(height, width, MIN_PICTURE_SIDE))
        name = os.path.splitext(os.path.basename(path))[0] + '.png'
        written.append(write_png(os.path.join(out_dir, name), picture))
        print('%s: %d instances with score >= %.2f -> %s'
              % (path, count_shown(prediction, thresh), thresh, written[-1]))
    return written


def run_video(predictor, path, out_path, thresh):
    """Detect and draw on every frame of the video at ``path``; writes the annotated video
    (the size of its frames, its frame rate) to ``out_path``. Returns (frames, frames per
    second processed)."""
    capture, info = open_video(path)
    writer, frames, start = None, 0, time.time()
    try:
        for frame in read_frames(capture, path):
            if writer is None:  # sized by the decoded frames, which the writer must match
                info = dataclasses.replace(info, height=frame.shape[0], width=frame.shape[1])
                writer = open_writer(out_path, info)
            writer.write(draw(predictor.predict(frame), thresh))
            frames += 1
            if frames % PROGRESS_FRAMES == 0:
                print('%s: %d frames, %.2f frames/s' % (path, frames, frames / (time.time() - start)))
    finally:
        if writer is not None:
            writer.release()
    rate = frames / max(time.time() - start, 1e-9)
    print('%s: %d frames at %.2f frames/s processed (%dx%d, %.2f fps) -> %s'
          % (path, frames, rate, info.width, info.height, info.fps, out_path))
    return frames, rate


def parse_args(argv):
    parser = argparse.ArgumentParser(description='Draw FCIS detections on images and videos.')
    parser.add_argument('--cfg', required=True, help='experiment YAML the model was trained with')
    parser.add_argument('--params', required=True, help='trained .params file (e.g. <train dir>/e2e-0007.params)')
    parser.add_argument('--images', nargs='+', default=[], help='image files, folders and/or video files')
    parser.add_argument('--video', nargs='+', default=[], help='video files')
    parser.add_argument('--out', required=True,
                        help='folder for the pictures and videos, or the output video file')
    parser.add_argument('--thresh', type=float, default=0.5, help='score threshold of drawn instances')
    parser.add_argument('--classes', default='', help="comma-separated class names (no background), or 'coco'")
    parser.add_argument('overrides', nargs='*', help='config overrides KEY=VALUE')
    args = parser.parse_intermixed_args(argv)
    if not args.images and not args.video:
        parser.error('give --images and/or --video')
    return args


def main(argv=None):
    """Returns (written PNG paths, written video paths)."""
    args = parse_args(argv)
    cfg = load_config(args.cfg, args.overrides)
    images, videos = list_inputs(args.images + args.video)
    not_videos = [v for v in args.video if v not in videos]
    if not_videos:
        raise ValueError('--video %s: not a video file (it must end in a video extension such '
                         'as .mp4 or .avi)' % not_videos[0])
    for video in videos:  # unreadable videos fail before the model loads
        open_video(video)[0].release()
    video_paths = video_outputs(videos, images, args.out)
    out_dir = (os.path.dirname(args.out) or '.') if is_video_path(args.out) else args.out
    make_folder(out_dir, OUT_FIX)
    predictor = Predictor(cfg, args.params, class_names=args.classes)
    written = run_images(predictor, images, out_dir, args.thresh)
    for video, out_path in zip(videos, video_paths):
        run_video(predictor, video, out_path, args.thresh)
    return written, video_paths


if __name__ == '__main__':
    run_main(main)
