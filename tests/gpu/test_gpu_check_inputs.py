"""gpu_check.py make-inputs: the npz holds every case the GPU side needs, and its CPU
results agree with independent NumPy references (edge-case inputs, made in ~4 s)."""
import numpy as np
import pytest

pytest.importorskip('mxnet', reason='making the inputs needs MXNet (CPU side)')
import tools_path  # noqa: F401
import gpu_check
from gpu_check_lib import nms_cases, ops_cases, store, voting_cases
from lib.masks.voting_numpy import vote_region_numpy

SMALL = ['psroi_edge', 'chan_edge', 'chan_flat', 'nms_ties', 'nms_one', 'nms_block', 'vote']


@pytest.fixture(scope='module')
def npz(tmp_path_factory):
    path = str(tmp_path_factory.mktemp('gpu_check') / 'inputs.npz')
    assert gpu_check.main(['make-inputs', '--out', path, '--only', ','.join(SMALL)]) == 0
    with np.load(path) as z:
        yield z


def round_half_away(v):
    """C's roundf: halves away from zero (np.round rounds them to even)."""
    return np.sign(v) * np.floor(np.abs(v) + 0.5)


def psroi_reference(data, rois, scale, output_dim, pooled, group):
    """Direct NumPy PSROIPooling (FCIS semantics), float64 means: (R, D, P, P)."""
    n_img, _, height, width = data.shape
    out = np.zeros((len(rois), output_dim, pooled, pooled))
    for r, (b, x1, y1, x2, y2) in enumerate(rois.astype(np.float64)):
        if not 0 <= int(b) < n_img:
            continue
        sw, sh = round_half_away(x1) * scale, round_half_away(y1) * scale
        bw = max((round_half_away(x2) + 1) * scale - sw, 0.1) / pooled
        bh = max((round_half_away(y2) + 1) * scale - sh, 0.1) / pooled
        for ph in range(pooled):
            for pw in range(pooled):
                h0, h1 = (int(np.clip(f(v), 0, height)) for f, v in
                          ((np.floor, ph * bh + sh), (np.ceil, (ph + 1) * bh + sh)))
                w0, w1 = (int(np.clip(f(v), 0, width)) for f, v in
                          ((np.floor, pw * bw + sw), (np.ceil, (pw + 1) * bw + sw)))
                if h1 <= h0 or w1 <= w0:
                    continue
                gh, gw = ph * group // pooled, pw * group // pooled
                ch = (np.arange(output_dim) * group + gh) * group + gw
                out[r, :, ph, pw] = data[int(b), ch, h0:h1, w0:w1].mean(axis=(1, 2))
    return out


def test_meta_lists_the_cases_and_every_key_is_there(npz):
    cases = store.get_meta(npz)['cases']
    assert set(cases) == {'psroi_edge', 'chan_edge', 'chan_flat', 'nms_ties', 'nms_one',
                          'nms_block_64', 'nms_block_65', 'vote', 'vote_release'}
    for key in ['psroi_edge.data', 'psroi_edge.rois', 'psroi_edge.out', 'psroi_edge.data_grad',
                'psroi_edge.data_grad_abs', 'chan_edge.Score_Pick.pick_grad',
                'chan_flat.Group_Softmax.data_grad', 'nms_ties.keep', 'vote.masks']:
        assert key in npz.files, key
    for name in voting_cases.VOTING_CASES:
        assert {name + '.crop', name + '.crop@sample'} & set(npz.files), name


def test_psroi_forward_matches_a_numpy_reference(npz):
    a = ops_cases.PSROI_CASES['psroi_edge']
    ref = psroi_reference(npz['psroi_edge.data'], npz['psroi_edge.rois'], a['scale'],
                          a['output_dim'], a['pooled'], a['group'])
    np.testing.assert_allclose(npz['psroi_edge.out'], ref, rtol=1e-5, atol=1e-6)
    assert np.all(ref[[3, 4, 8, 9]] == 0)  # outside the map or bad batch index: zeros
    # the backward of |out_grad| bounds the backward of out_grad (the tolerance scale)
    assert np.all(np.abs(npz['psroi_edge.data_grad']) <= npz['psroi_edge.data_grad_abs'] + 1e-6)


def test_channel_results_match_numpy(npz):
    x = npz['chan_edge.data'].reshape(5, 4, 3, 6)
    np.testing.assert_array_equal(npz['chan_edge.Group_Max.out'].reshape(5, 4, 6), x.max(axis=2))
    labels = npz['chan_edge.Label_Pick.pick_idx']
    picked = [int(v) if 0 <= v < 4 else 0 for v in np.nan_to_num(labels, nan=-1)]
    np.testing.assert_array_equal(npz['chan_edge.Label_Pick.out'].reshape(5, 3, 6),
                                  x[np.arange(5), picked])
    scores = npz['chan_edge.Score_Pick.pick_idx']
    best = [1 + int(np.argmax(s[1:])) for s in scores]
    assert best[0] == 1  # all tied: the first foreground group
    np.testing.assert_array_equal(npz['chan_edge.Score_Pick.out'].reshape(5, 3, 6),
                                  x[np.arange(5), best])
    e = np.exp(x - x.max(axis=2, keepdims=True))
    np.testing.assert_allclose(npz['chan_edge.Group_Softmax.out'].reshape(5, 4, 3, 6),
                               e / e.sum(axis=2, keepdims=True), rtol=1e-6)


def greedy_nms(dets, thresh):
    """Plain greedy NMS in float64 ('+1' areas), stable score order."""
    order = list(np.argsort(-dets[:, 4].astype(np.float64), kind='stable'))
    keep = []
    while order:
        i = order.pop(0)
        keep.append(i)
        b = dets[order, :4].astype(np.float64)
        a = dets[i, :4].astype(np.float64)
        w = np.minimum(a[2], b[:, 2]) - np.maximum(a[0], b[:, 0]) + 1
        h = np.minimum(a[3], b[:, 3]) - np.maximum(a[1], b[:, 1]) + 1
        inter = np.where((w > 0) & (h > 0), w * h, 0)
        union = (a[2] - a[0] + 1) * (a[3] - a[1] + 1) + (b[:, 2] - b[:, 0] + 1) * (
            b[:, 3] - b[:, 1] + 1) - inter
        order = [o for o, iou in zip(order, inter / union) if iou <= thresh]
    return keep


@pytest.mark.parametrize('name', ['nms_ties', 'nms_one', 'nms_block_64', 'nms_block_65'])
def test_nms_keep_lists_match_a_greedy_reference(npz, name):
    keep = npz[name + '.keep'].tolist()
    assert keep == greedy_nms(npz[name + '.dets'], nms_cases.NMS_CASES[name]['thresh'])
    if name == 'nms_ties':
        assert keep == [8, 2, 4, 6]  # IoU exactly 0.5 kept at 0.5; equal scores by index


def test_nms_ambiguity_filter_drops_pairs_at_float32_rounding_of_the_threshold():
    # boxes 0 and 2 have IoU 100/300: above 1/3 - 1e-12 in float64, but in float32 both
    # round to 0.33333334, so the kernel would not suppress: the pair is ambiguous
    dets = np.array([[0, 0, 9, 9, 0.9], [0, 0, 9, 19, 0.8], [0, 0, 9, 29, 0.7],
                     [200, 200, 210, 210, 0.5]], np.float32)
    np.testing.assert_array_equal(nms_cases.unambiguous(dets, 1.0 / 3 - 1e-12), dets[[1, 3]])
    np.testing.assert_array_equal(nms_cases.unambiguous(dets, 0.3), dets)


def test_voting_crops_match_the_numpy_twin(npz):
    masks, extents = npz['vote.masks'], npz['vote.extents']
    for name, a in voting_cases.VOTING_CASES.items():
        members = npz[name + '.members'].astype(np.intp)
        crop = vote_region_numpy(masks, extents, members, npz[name + '.weights'],
                                 *npz[name + '.region'].tolist(), voting_cases.BINARY_THRESH,
                                 a['binarize'])
        _, expected, positions, _, shape = store.get_expected(npz, name + '.crop')
        assert crop.shape == tuple(shape)
        np.testing.assert_array_equal(np.asarray(crop).reshape(-1)[positions], expected, name)


def test_large_inputs_are_recipes_regenerated_bit_for_bit():
    data = {}
    array = store.synth_input(data, 'x', 7, (3, 1000, 300))
    assert 'x@synth' in data and 'x' not in data
    np.testing.assert_array_equal(store.get_input(data_view(data), 'x'), array)
    assert len(np.unique(array)) < array.size  # grid values: ties occur
    data['x@sha256'] = np.array('0' * 64)
    with pytest.raises(ValueError, match='regenerated with different bits'):
        store.get_input(data_view(data), 'x')


def data_view(data):
    """A dict with the .files attribute np.load's NpzFile has."""
    class View(dict):
        files = list(data)
    return View(data)
