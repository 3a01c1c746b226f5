"""fcis.core.tester.voting_backend: the TEST.USE_GPU_MASK_MERGE switch."""
import logging

import mxnet as mx
from easydict import EasyDict

from fcis.core.tester import voting_backend


def test_voting_backend_follows_the_switch_and_the_context(caplog):
    assert voting_backend(EasyDict(USE_GPU_MASK_MERGE=False), mx.cpu()) == 'cython'
    assert voting_backend(EasyDict(USE_GPU_MASK_MERGE=False), mx.gpu(1)) == 'cython'
    assert voting_backend(EasyDict(USE_GPU_MASK_MERGE=True), mx.gpu(1)) == 'gpu:1'
    with caplog.at_level(logging.WARNING):
        # the release's COCO YAML sets it; on the CPU the compiled CPU twin votes
        assert voting_backend(EasyDict(USE_GPU_MASK_MERGE=True), mx.cpu()) == 'cython'
    assert 'runs on the CPU' in caplog.text
