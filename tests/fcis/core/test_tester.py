"""fcis.core.tester.voting_backend: the TEST.USE_GPU_MASK_MERGE switch."""
import mxnet as mx
import pytest
from easydict import EasyDict

from fcis.core.tester import voting_backend


def test_voting_backend_follows_the_switch_and_the_context():
    assert voting_backend(EasyDict(USE_GPU_MASK_MERGE=False), mx.cpu()) == 'cython'
    assert voting_backend(EasyDict(USE_GPU_MASK_MERGE=False), mx.gpu(1)) == 'cython'
    assert voting_backend(EasyDict(USE_GPU_MASK_MERGE=True), mx.gpu(1)) == 'gpu:1'
    with pytest.raises(ValueError, match='USE_GPU_MASK_MERGE needs a GPU'):
        voting_backend(EasyDict(USE_GPU_MASK_MERGE=True), mx.cpu())
