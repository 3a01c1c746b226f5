"""read_image takes the stored pixels: an EXIF orientation tag is not applied."""
import cv2
import numpy as np
from PIL import Image

from lib.utils.image import read_image


def test_exif_orientation_is_ignored(tmp_path):
    stored = np.zeros((20, 40, 3), dtype=np.uint8)
    stored[:, :10] = 255                                    # a white band on the left
    path = str(tmp_path / 'rotated.jpg')
    exif = Image.Exif()
    exif[0x0112] = 6                                        # "rotate 90 degrees clockwise"
    Image.fromarray(stored).save(path, exif=exif, quality=95)
    assert cv2.imread(path, cv2.IMREAD_COLOR).shape == (40, 20, 3)  # the tag is there
    image = read_image(path)
    assert image.shape == (20, 40, 3)
    assert image[:, :8].min() > 200 and image[:, 12:].max() < 60
    np.testing.assert_array_equal(read_image(path, flipped=True), image[:, ::-1])
