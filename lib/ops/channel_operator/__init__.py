"""Python wrappers of the native ``ChannelOperator`` (sources: channel_operator.{h,cc,cu}).

data is (N, group*k, ...), channel g*k + j being member j of group g (FCIS: group = class,
k = 2, j = 1 "inside"). Group_Max and Group_Softmax take data only; Group_Pick also takes
pick_idx: (N,) class labels (Label_Pick) or (N, group) / (N, group, 1, 1) class scores
(Score_Pick, picks the best group among 1..group-1).
"""
from ..loader import load_ops


def channel_operator(data, op_type, group, pick_idx=None, pick_type='Label_Pick', name=None):
    """The raw operator; see the module docstring for the inputs of each op_type."""
    import mxnet as mx
    load_ops()
    inputs = [data] if pick_idx is None else [data, pick_idx]
    attrs = dict(op_type=op_type, group=group)
    if op_type == 'Group_Pick':
        attrs['pick_type'] = pick_type
    if isinstance(data, mx.nd.NDArray):
        return mx.nd.ChannelOperator(*inputs, **attrs)
    return mx.sym.ChannelOperator(*inputs, name=name, **attrs)


def group_max(data, group, name=None):
    """(N, group*k, ...) -> (N, group, ...): max over each group's k members."""
    return channel_operator(data, 'Group_Max', group, name=name)


def group_softmax(data, group, name=None):
    """(N, group*k, ...) -> same shape: softmax over each group's k members."""
    return channel_operator(data, 'Group_Softmax', group, name=name)


def group_pick(data, pick_idx, group, pick_type='Label_Pick', name=None):
    """(N, group*k, ...), pick_idx -> (N, k, ...): the members of one group per item."""
    return channel_operator(data, 'Group_Pick', group, pick_idx=pick_idx, pick_type=pick_type,
                            name=name)
