"""fcis/demo.py: pictures for images of any size and channel layout, one PNG per image."""
import os

import cv2
import numpy as np
import pytest

from fcis import demo
from fcis.config import load_config
from fcis.config.symbol_args import network_args
from fcis.core.params import FCISInitializer, load_params
from fcis.symbols import get_test_symbol
from lib.utils.checkpoint import save_params
from lib.utils.vis import zoom_for

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
CFG = os.path.join(ROOT, 'experiments', 'fcis', 'cfgs', 'shapes_fcis_end2end.yaml')


@pytest.fixture
def params_file(tmp_path):
    """Randomly initialized parameters of the shapes model, saved like a checkpoint."""
    cfg = load_config(CFG)
    symbol = get_test_symbol(network_args(cfg, is_train=False))
    arg, aux = load_params(symbol, {'data': (1, 3, 224, 224)}, '', 0, initializer=FCISInitializer())
    return save_params(str(tmp_path / 'model-0001.params'), arg, aux)


def test_demo_draws_every_image_layout(tmp_path, params_file):
    rng = np.random.RandomState(0)
    folder = tmp_path / 'images'
    folder.mkdir()
    sizes = {'gray.png': (97, 203), 'rgba.png': (150, 120, 4), 'color.jpg': (333, 517, 3)}
    for name, shape in sizes.items():
        cv2.imwrite(str(folder / name), rng.randint(0, 255, size=shape).astype(np.uint8))
    out = tmp_path / 'out'
    demo.main(['--cfg', CFG, '--params', params_file, '--images', str(folder), '--out', str(out),
               '--thresh', '0.0', '--classes', 'circle,square,triangle,star'])
    for name, shape in sizes.items():
        picture = cv2.imread(str(out / (os.path.splitext(name)[0] + '.png')), cv2.IMREAD_UNCHANGED)
        zoom = zoom_for(shape[0], shape[1], demo.MIN_PICTURE_SIDE)  # 97 x 203 -> 5, 333 -> 2
        assert picture is not None and picture.shape == (zoom * shape[0], zoom * shape[1], 3), name


def test_demo_errors_name_the_problem(tmp_path, params_file):
    cv2.imwrite(str(tmp_path / 'one.png'), np.zeros((40, 50, 3), np.uint8))
    with pytest.raises(SystemExit) as err:
        demo.main(['--cfg', CFG, '--params', str(tmp_path / 'none.params'), '--images',
                   str(tmp_path), '--out', str(tmp_path / 'o'), '--classes', 'a,b,c,d'])
    assert 'none.params' in str(err.value)
    with pytest.raises(SystemExit) as err:
        demo.main(['--cfg', CFG, '--params', params_file, '--images', str(tmp_path / 'missing'),
                   '--out', str(tmp_path / 'o'), '--classes', 'a,b,c,d'])
    assert 'missing' in str(err.value)
    with pytest.raises(SystemExit) as err:
        demo.main(['--cfg', CFG, '--params', params_file, '--images', str(tmp_path),
                   '--out', str(tmp_path / 'o'), '--classes', 'a,b'])
    assert 'NUM_CLASSES' in str(err.value)


def test_demo_coco_class_names():
    coco_cfg = load_config(os.path.join(ROOT, 'experiments', 'fcis', 'cfgs',
                                        'resnet_v1_101_coco_fcis_end2end_ohem.yaml'))
    names = demo.class_names(coco_cfg, 'coco')
    assert len(names) == 81 and names[:3] == ['__background__', 'person', 'bicycle']
    assert names[12] == 'stop sign' and names[80] == 'toothbrush'
    with pytest.raises(ValueError, match='81 class names for dataset.NUM_CLASSES=5'):
        demo.class_names(load_config(CFG), 'coco')
