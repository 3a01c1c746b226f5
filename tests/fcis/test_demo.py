"""fcis/demo.py: pictures for images of any size and channel layout, annotated videos, the
tester's input shapes, and one-line errors from the real entry point."""
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from fcis import demo
from fcis.cli import run_main
from fcis.config import load_config
from fcis.core.loader import TestLoader as ImageTestLoader
from fcis.core.tester import InferenceModule, run_test
from fcis.predictor import Predictor, resolve_class_names
from lib.utils.vis import zoom_for

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
CFG = os.path.join(ROOT, 'experiments', 'fcis', 'cfgs', 'shapes_fcis_end2end.yaml')
DEMO = os.path.join(ROOT, 'fcis', 'demo.py')
CLASSES = ['--classes', 'circle,square,triangle,star']


def test_demo_draws_every_image_layout(tmp_path, shapes_params_file, test_seed):
    rng = np.random.RandomState(test_seed)
    folder = tmp_path / 'images'
    folder.mkdir()
    sizes = {'gray.png': (97, 203), 'rgba.png': (150, 120, 4), 'color.jpg': (333, 517, 3)}
    for name, shape in sizes.items():
        cv2.imwrite(str(folder / name), rng.randint(0, 255, size=shape).astype(np.uint8))
    out = tmp_path / 'out'
    written, videos = demo.main(['--cfg', CFG, '--params', shapes_params_file, '--images',
                                 str(folder), '--out', str(out), '--thresh', '0.0'] + CLASSES)
    assert len(written) == 3 and videos == []
    for name, shape in sizes.items():
        picture = cv2.imread(str(out / (os.path.splitext(name)[0] + '.png')), cv2.IMREAD_UNCHANGED)
        zoom = zoom_for(shape[0], shape[1], demo.MIN_PICTURE_SIDE)  # 97 x 203 -> 5, 333 -> 2
        assert picture is not None and picture.shape == (zoom * shape[0], zoom * shape[1], 3), name


def record_input_shapes(monkeypatch):
    """List that receives the data shape of every batch the test symbol is run on."""
    seen = []
    predict = InferenceModule.predict

    def recording(self, batch):
        seen.append(tuple(batch.data[0].shape))
        return predict(self, batch)
    monkeypatch.setattr(InferenceModule, 'predict', recording)
    return seen


def test_demo_input_shape_is_the_testers(tmp_path, shapes_params_file, monkeypatch, test_seed):
    image = np.random.RandomState(test_seed + 1).randint(0, 255, (170, 230, 3)).astype(np.uint8)
    path = str(tmp_path / 'odd.png')
    cv2.imwrite(path, image)
    seen = record_input_shapes(monkeypatch)
    demo.main(['--cfg', CFG, '--images', path, '--out', str(tmp_path / 'out'), '--params',
               shapes_params_file] + CLASSES)
    predictor = Predictor(CFG, shapes_params_file)
    entry = {'image': path, 'height': 170, 'width': 230, 'image_id': 1}
    run_test(predictor, ImageTestLoader([entry], image_input=predictor.image_input, num_workers=0))
    # 170 x 230 -> the test scale's 224 x 303 (scale 224/170), padded to 224 x 304
    # (IMAGE_STRIDE 16)
    assert seen == [(1, 3, 224, 304), (1, 3, 224, 304)]


def write_video(path, count, fps, size):
    """A video of ``count`` frames (height, width = size): a bright disc moving on grey."""
    height, width = size
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), fps, (width, height))
    assert writer.isOpened()
    for k in range(count):
        frame = np.full((height, width, 3), 90, np.uint8)
        cv2.circle(frame, (20 + 6 * k, height // 2), 18, (40, 220, 250), -1)
        writer.write(frame)
    writer.release()


def read_video(path):
    """(frames list, fps) of a video file."""
    capture = cv2.VideoCapture(path)
    fps, frames = capture.get(cv2.CAP_PROP_FPS), []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames, fps


def test_demo_annotates_every_video_frame(tmp_path, shapes_params_file, capsys):
    source, out = str(tmp_path / 'in.mp4'), str(tmp_path / 'annotated' / 'out.mp4')
    write_video(source, 10, 8.0, (96, 128))
    originals, _ = read_video(source)
    assert len(originals) == 10
    written, videos = demo.main(['--cfg', CFG, '--params', shapes_params_file, '--video', source,
                                 '--out', out, '--thresh', '0.0'] + CLASSES)
    assert written == [] and videos == [out]
    frames, fps = read_video(out)
    assert len(frames) == 10 and fps == 8.0
    assert all(f.shape == (96, 128, 3) for f in frames)
    changed = [np.abs(f.astype(int) - o.astype(int)).mean() for f, o in zip(frames, originals)]
    assert min(changed) > 5  # boxes and masks drawn on every frame
    assert 'in.mp4: 10 frames at' in capsys.readouterr().out

    folder = tmp_path / 'folder_out'  # a video among --images, --out a folder
    _, videos = demo.main(['--cfg', CFG, '--params', shapes_params_file, '--images', source,
                           '--out', str(folder)] + CLASSES)
    assert videos == [str(folder / 'in.mp4')] and len(read_video(videos[0])[0]) == 10


def run_demo(*args, debug=False):
    """Run fcis/demo.py in a subprocess -> (exit status, stderr)."""
    command = [sys.executable, DEMO, '--cfg', CFG] + list(args) + (['--debug'] if debug else [])
    env = dict(os.environ, OMP_NUM_THREADS='1')
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    return done.returncode, done.stderr


def error_cases(tmp_path, params_file):
    """[(demo arguments after --cfg, text the error line must contain)] of every bad input."""
    image = str(tmp_path / 'one.png')
    cv2.imwrite(image, np.zeros((40, 50, 3), np.uint8))
    corrupt = tmp_path / 'corrupt.params'
    corrupt.write_bytes(b'not a params file' * 10)
    bad_video = tmp_path / 'bad.mp4'
    bad_video.write_bytes(b'not a video' * 100)
    (tmp_path / 'a_file').write_text('x')
    video = str(tmp_path / 'two.mp4')
    write_video(video, 2, 5.0, (32, 48))
    out = ['--out', str(tmp_path / 'o')]
    good = ['--params', params_file, '--images', image] + out
    return [
        (['--params', str(tmp_path / 'none.params'), '--images', image] + out + CLASSES,
         'parameter file not found: %s/none.params' % tmp_path),
        (['--params', str(corrupt), '--images', image] + out + CLASSES,
         'cannot read parameter file %s (corrupt or truncated' % corrupt),
        (['--params', params_file, '--images', str(tmp_path / 'missing')] + out + CLASSES,
         'no such image, video or folder: %s/missing' % tmp_path),
        (['--params', params_file, '--video', str(tmp_path / 'gone.mp4')] + out,
         'no such image, video or folder: %s/gone.mp4' % tmp_path),
        (['--params', params_file, '--video', str(bad_video)] + out,
         'cannot read video %s (corrupt' % bad_video),
        (['--params', params_file, '--images', image, '--out', str(tmp_path / 'a_file' / 'out')],
         'cannot create folder %s/a_file/out (not a directory); give another folder with --out'
         % tmp_path),
        (good + ['--classes', 'a,b'], '3 class names for dataset.NUM_CLASSES=5'),
        # an override between options
        (good[:2] + ['dataset.NUM_CLASSES=3'] + good[2:] + ['--classes', 'a,b'],
         '%s does not fit the symbol, shape mismatch' % params_file),
        (['--params', params_file, '--video', image] + out, '--video %s: not a video file' % image),
        (['--params', params_file, '--video', video, '--out', str(tmp_path / 'x.webm')],
         'cannot write video %s/x.webm: the file name must end in one of .avi, .m4v' % tmp_path),
        (['--params', params_file, '--images', image, '--video', video, '--out',
          str(tmp_path / 'y.mp4')], 'names a video file: give exactly one video (and no image)'),
    ]


def test_demo_errors_are_one_line(tmp_path, shapes_params_file, capsys):
    for args, message in error_cases(tmp_path, shapes_params_file):
        with pytest.raises(SystemExit) as exit_info:
            run_main(demo.main, ['--cfg', CFG] + args)
        assert message in str(exit_info.value) and str(exit_info.value).startswith('error: ')
        assert len(str(exit_info.value).splitlines()) == 1


def test_demo_errors_through_the_entry_point(tmp_path, shapes_params_file):
    cases = error_cases(tmp_path, shapes_params_file)
    for args, message in [cases[1], cases[4], cases[7]]:  # corrupt params and video, a misfit
        status, stderr = run_demo(*args)
        assert status == 1 and 'Traceback' not in stderr, (args, stderr)
        lines = stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith('error: ') and message in lines[0], stderr
    status, stderr = run_demo(*(cases[6][0] + ['--debug']))
    assert status == 1 and 'Traceback' in stderr and 'ValueError: 3 class names' in stderr


def test_demo_coco_class_names():
    coco_cfg = load_config(os.path.join(ROOT, 'experiments', 'fcis', 'cfgs',
                                        'resnet_v1_101_coco_fcis_end2end_ohem.yaml'))
    names = resolve_class_names(coco_cfg, 'coco')
    assert len(names) == 81 and names[:3] == ('__background__', 'person', 'bicycle')
    assert names[12] == 'stop sign' and names[80] == 'toothbrush'
    with pytest.raises(ValueError, match='81 class names for dataset.NUM_CLASSES=5'):
        resolve_class_names(load_config(CFG), 'coco')
