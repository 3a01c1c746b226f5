"""gpu_check.py make-inputs, soft-vote cases (fcis_gpu_vote_soft, the release mode): the npz
holds inputs prepared as release_mask_voting prepares them, each case covers what it names,
and the CPU votes equal an independent NumPy reference bit for bit; the bit-identical rule
compares float64 as bits."""
import numpy as np
import pytest

pytest.importorskip('mxnet', reason='making the inputs needs MXNet (CPU side)')
import tools_path  # noqa: F401
import gpu_check
from gpu_check_lib import compare, store
from gpu_check_lib.voting_cases import BINARY_THRESH, IMAGE_H, IMAGE_W, MASK_SIZE
from gpu_check_lib.voting_soft_cases import SOFT_CASES
from lib.masks.voting_numpy import vote_region_soft_numpy


@pytest.fixture(scope='module')
def npz(tmp_path_factory):
    path = str(tmp_path_factory.mktemp('gpu_check') / 'inputs.npz')
    assert gpu_check.main(['make-inputs', '--out', path, '--only', 'vote_release']) == 0
    with np.load(path) as z:
        yield {key: z[key] for key in z.files}


def case(npz, name):
    return {k.split('.', 1)[1]: v for k, v in npz.items() if k.startswith(name + '.')}


def iou_plus_one(boxes, box):
    w = np.minimum(boxes[:, 2], box[2]) - np.maximum(boxes[:, 0], box[0]) + 1
    h = np.minimum(boxes[:, 3], box[3]) - np.maximum(boxes[:, 1], box[1]) + 1
    inter = np.where((w > 0) & (h > 0), w * h, 0.0)
    area = lambda b: (b[..., 2] - b[..., 0] + 1) * (b[..., 3] - b[..., 1] + 1)  # noqa: E731
    return inter / (area(boxes) + area(box) - inter)


def test_meta_lists_only_the_soft_cases(npz):
    assert store.get_meta(npz)['cases'] == {'vote_release': 'voting_soft'}
    assert all(name + '.vote' in npz for name in SOFT_CASES)


@pytest.mark.parametrize('name', list(SOFT_CASES))
def test_cpu_vote_equals_the_numpy_reference_bit_for_bit(npz, name):
    c = case(npz, name)
    ref = vote_region_soft_numpy(c['masks'], c['extents'], c['members'].astype(np.intp),
                                 c['weights'], *c['region'].tolist(), BINARY_THRESH,
                                 SOFT_CASES[name]['binarize'])
    assert c['vote'].dtype == np.float64 and c['vote'].shape == ref.shape
    np.testing.assert_array_equal(c['vote'].view(np.uint64), ref.view(np.uint64))


@pytest.mark.parametrize('name', list(SOFT_CASES))
def test_inputs_are_prepared_as_the_release_does(npz, name):
    c = case(npz, name)
    boxes = c['boxes'].astype(np.float64)
    assert boxes[:, 0::2].min() >= 0 and boxes[:, 0::2].max() <= IMAGE_W - 1
    assert boxes[:, 1::2].min() >= 0 and boxes[:, 1::2].max() <= IMAGE_H - 1
    ext = np.round(boxes)  # half to even: 340.5 -> 340, 341.5 -> 342
    ext[:, 2:] = np.maximum(ext[:, 2:], ext[:, :2])
    np.testing.assert_array_equal(c['extents'], ext.astype(np.int32))
    assert c['masks'].shape == (len(boxes), MASK_SIZE, MASK_SIZE)
    kept = int(c['kept'])
    voters = np.where(iou_plus_one(boxes, boxes[kept]) >= 0.5)[0]
    if SOFT_CASES[name]['voters'] == 0:
        assert c['members'].size == 0 and c['weights'].size == 0
        return
    np.testing.assert_array_equal(c['members'], voters)  # in ROI order, the kept one included
    assert len(voters) == SOFT_CASES[name]['voters'] < len(boxes)  # distractors do not vote
    assert np.all(c['weights'] > 0) and abs(c['weights'].sum(dtype=np.float64) - 1) < 1e-6
    if SOFT_CASES[name]['region'] == 'voters':
        e = c['extents'][voters]
        np.testing.assert_array_equal(c['region'], [e[:, 0].min(), e[:, 1].min(),
                                                    e[:, 2].max(), e[:, 3].max()])


def test_half_pixel_corners_are_rounded_to_even(npz):
    boxes = np.concatenate([case(npz, n)['boxes'] for n in SOFT_CASES]).reshape(-1)
    ext = np.concatenate([case(npz, n)['extents'] for n in SOFT_CASES]).reshape(-1)
    half = boxes % 1 == 0.5
    assert np.any(half & (ext == np.floor(boxes))) and np.any(half & (ext == np.ceil(boxes)))


def test_each_case_covers_what_it_names(npz):
    coco = case(npz, 'vote_release_coco')
    rh, rw = coco['vote'].shape
    assert coco['members'].size >= 90 and min(rh, rw) >= 300 and rh * rw <= store.FULL_LIMIT
    beyond = case(npz, 'vote_release_beyond_box')
    kx1, ky1, kx2, ky2 = beyond['extents'][int(beyond['kept'])]
    rx1, ry1, rx2, ry2 = beyond['region']
    assert rx1 < kx1 and ry1 < ky1 and rx2 > kx2 and ry2 > ky2
    outside = np.ones_like(beyond['vote'], bool)
    outside[ky1 - ry1:ky2 - ry1 + 1, kx1 - rx1:kx2 - rx1 + 1] = False
    assert np.any(beyond['vote'][outside] > 0)  # the vote is not limited to the kept box
    one = case(npz, 'vote_release_one_voter')
    assert one['members'].tolist() == [int(one['kept'])] and one['weights'].tolist() == [1.0]
    assert set(np.unique(one['vote'])) == {0.0, 1.0}
    border = case(npz, 'vote_release_border')
    assert border['region'][0] == 0 and border['region'][3] == IMAGE_H - 1
    assert border['vote'][:, 0].any() and border['vote'][-1].any()
    soft = case(npz, 'vote_release_unbinarized')
    binarized = vote_region_soft_numpy(soft['masks'], soft['extents'],
                                       soft['members'].astype(np.intp), soft['weights'],
                                       *soft['region'].tolist(), BINARY_THRESH, True)
    assert not np.array_equal(soft['vote'], binarized)
    none = case(npz, 'vote_release_no_voters')
    assert none['vote'].shape == (101, 101) and not none['vote'].any()
    apart = case(npz, 'vote_release_apart')
    e, (rx1, ry1, rx2, ry2) = apart['extents'][apart['members']], apart['region']
    assert apart['members'].size > 0 and not apart['vote'].any()
    assert np.all((e[:, 2] < rx1) | (e[:, 0] > rx2) | (e[:, 3] < ry1) | (e[:, 1] > ry2))


class Stored(dict):
    """A dict with the .files attribute np.load's NpzFile has."""
    @property
    def files(self):
        return list(self)


def test_bit_identical_rule_compares_float64_bits():
    stored = Stored(v=np.array([0.0, 0.25, 1.0]))
    assert compare.compare(stored, 'v', stored['v'].copy(), 'bit-identical')[0]
    for got in (np.array([-0.0, 0.25, 1.0]), np.array([0.0, np.nextafter(0.25, 1), 1.0])):
        ok, detail = compare.compare(stored, 'v', got, 'bit-identical')
        assert not ok and detail.startswith('1 of all 3'), detail
