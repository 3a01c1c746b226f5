"""Video files in and out with OpenCV: frames are (H, W, 3) uint8 BGR.

Writing uses the 'mp4v' codec (MPEG-4 part 2) for .mp4/.m4v/.mov/.mkv and 'MJPG' for .avi,
both available in opencv-python-headless. FFmpeg's own log lines are silenced
(OPENCV_FFMPEG_LOGLEVEL, unless set): a failure to open a file is raised as one error.
"""
import dataclasses
import os

import cv2

VIDEO_EXTENSIONS = ('.mp4', '.m4v', '.mov', '.mkv', '.avi', '.webm', '.mpg', '.mpeg', '.wmv')
WRITE_CODECS = {'.mp4': 'mp4v', '.m4v': 'mp4v', '.mov': 'mp4v', '.mkv': 'mp4v', '.avi': 'MJPG'}
DEFAULT_FPS = 25.0  # for files that do not state their frame rate


def is_video_path(path):
    """True when ``path`` ends in one of VIDEO_EXTENSIONS (any case)."""
    return str(path).lower().endswith(VIDEO_EXTENSIONS)


@dataclasses.dataclass(frozen=True)
class VideoInfo:
    """fps (frames per second; DEFAULT_FPS when the file gives none), width and height in
    pixels of an opened video."""
    fps: float
    width: int
    height: int


def _quiet_ffmpeg():
    os.environ.setdefault('OPENCV_FFMPEG_LOGLEVEL', '-8')  # AV_LOG_QUIET


def open_video(path):
    """(cv2.VideoCapture, VideoInfo) of the video file at ``path``.

    Raises IOError naming the file when it is missing or OpenCV cannot decode it.
    """
    if not os.path.isfile(path):
        raise IOError('no such video file: %s' % path)
    _quiet_ffmpeg()
    capture = cv2.VideoCapture(path)
    if not capture.isOpened():
        raise IOError('cannot read video %s (corrupt, or a format OpenCV cannot decode)' % path)
    fps = capture.get(cv2.CAP_PROP_FPS)
    fps = float(fps) if fps and fps > 0 and fps == fps else DEFAULT_FPS
    info = VideoInfo(fps, int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
                     int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    return capture, info


def read_frames(capture, path):
    """Yield the (H, W, 3) uint8 BGR frames of an opened cv2.VideoCapture of the file
    ``path``, then release it.

    Raises IOError naming the file when it holds no decodable frame.
    """
    count = 0
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            count += 1
            yield frame
    finally:
        capture.release()
    if count == 0:
        raise IOError('cannot read video %s: no decodable frame (corrupt or empty)' % path)


def write_codec(path):
    """FourCC code of the codec that writes ``path`` (WRITE_CODECS by its extension); raises
    ValueError naming the file for another extension."""
    ext = os.path.splitext(str(path))[1].lower()
    if ext not in WRITE_CODECS:
        raise ValueError('cannot write video %s: the file name must end in one of %s'
                         % (path, ', '.join(sorted(WRITE_CODECS))))
    return WRITE_CODECS[ext]


def open_writer(path, info):
    """cv2.VideoWriter for ``path`` with info's fps, width and height (codec: write_codec).
    Raises OSError naming the file when it cannot be written."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*write_codec(path)), info.fps,
                             (info.width, info.height))
    if not writer.isOpened():
        raise OSError('cannot write video %s (is its folder writable?)' % path)
    return writer
