"""lib.utils.ranking.descending_order against NumPy's stable argsort."""
import numpy as np
import pytest

from lib.utils.ranking import descending_order


@pytest.mark.parametrize('top_n', [0, 1, 7, 100, 399, 400, 500])
def test_descending_order_is_the_stable_sort_cut(top_n, test_seed):
    rng = np.random.RandomState(test_seed)
    with_nan = rng.rand(400)
    with_nan[rng.randint(0, 400, 20)] = np.nan
    for scores in (rng.rand(400).astype(np.float32),  # distinct
                   np.round(rng.rand(400) * 10) / 10,  # ~40 equal values each
                   np.full(400, 0.5),  # all tied
                   with_nan):  # NaN last, as argsort ranks it
        expected = np.argsort(-scores, kind='stable')
        expected = expected[:top_n] if top_n > 0 else expected
        np.testing.assert_array_equal(descending_order(scores, top_n), expected)
