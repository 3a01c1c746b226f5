"""ResNet-v1 trunk (bottleneck units) with the layer names of the public MXNet
``resnet_v1_101-0000.params`` so that file loads by name.

Layout (feature stride 16):

    conv1 7x7/2 pad 3 -> bn_conv1 -> conv1_relu -> pool1 max 3x3/2 (pad 0, 'full' = Caffe
    ceil rounding, which is how the public Caffe-converted model was trained)
    res2 (stride 1) -> res3 (stride 2) -> res4 (stride 2)   -> conv4 feature (RPN)
    res5 (stride 1, 3x3 convs dilated by 2)                 -> conv5 feature (FCIS head)

For a 600x1000 image: conv1 300x500, pool1 150x250, res3 75x125, res4/res5 38x63. Without
pool1 (``TrunkArgs.stem_pool`` False) every map after conv1 keeps twice that side: feature
stride 8.

Names: unit ``res{stage}{u}`` with u = 'a', 'b', 'c', ... except in stages 3 and 4 of the
101/152-layer nets, which are 'a', 'b1', 'b2', ... (res3b3, res4b22). Each unit has convs
``res{u}_branch2a/2b/2c`` (and ``_branch1`` for the shortcut of the first unit), BatchNorms
``bn{u'}_branch*`` (u' = the unit name without 'res'), ReLUs ``res{u}_branch2a_relu``,
``res{u}_branch2b_relu``, the sum ``res{u}`` and its ReLU ``res{u}_relu``. Convs have no bias.
With ``TrunkArgs.fuse_bn_relu`` a BatchNorm and the ReLU after it are one node named after the
BatchNorm (its parameters keep their names).
"""
import mxnet as mx

BN_EPS = 1e-5


def unit_names(stage, num_units, depth):
    """Unit suffixes of one stage, e.g. (3, 4, 101) -> ['3a', '3b1', '3b2', '3b3']."""
    numbered = depth in (101, 152) and stage in (3, 4) and num_units > 1
    if numbered:
        return ['%da' % stage] + ['%db%d' % (stage, i) for i in range(1, num_units)]
    if num_units > 26:
        raise ValueError('stage res%d has %d units; letter naming allows at most 26'
                         % (stage, num_units))
    return ['%d%s' % (stage, chr(ord('a') + i)) for i in range(num_units)]


def conv(data, name, num_filter, kernel, stride=1, pad=0, dilate=1):
    """Bias-free square convolution. data (N, Cin, H, W) -> (N, num_filter, H', W')."""
    return mx.sym.Convolution(data=data, name=name, num_filter=num_filter,
                              kernel=(kernel, kernel), stride=(stride, stride),
                              pad=(pad, pad), dilate=(dilate, dilate), no_bias=True)


def image_norm(data, name, channels):
    """Every image normalized by its own per-channel mean and variance over (H, W), then
    scaled and shifted per channel by ``name``_gamma and ``name``_beta (``channels``,):
    InstanceNorm's formula, eps 1e-5, what BatchNorm computes in training for a batch of one
    image. (N, C, H, W) -> same.

    Built as LayerNorm over the rows of the (N*C, H*W) view, then the per-channel affine as
    a depthwise 1x1 convolution (weight gamma, bias beta), whose oneDNN output the next
    convolution or max pooling reads without a layout change: on the CPU MXNet 1.9's
    InstanceNorm takes ~15x as long as a BatchNorm, and max pooling of a plain-layout map
    ~30x as long as of oneDNN's blocked one.
    """
    gamma = mx.sym.Variable(name + '_gamma', shape=(channels,))
    beta = mx.sym.Variable(name + '_beta', shape=(channels,))
    rows = mx.sym.reshape(data, shape=(-3, -3), name=name + '_rows')         # (N*C, H*W)
    first = mx.sym.slice_axis(rows, axis=0, begin=0, end=1)                  # (1, H*W)
    ones = mx.sym.reshape(mx.sym.ones_like(first), shape=(-1,))              # (H*W,)
    normed = mx.sym.LayerNorm(rows, ones, mx.sym.zeros_like(ones), axis=-1, eps=BN_EPS,
                              name=name + '_layernorm')                      # (N*C, H*W)
    normed = mx.sym.reshape_like(normed, data)                               # (N, C, H, W)
    weight = mx.sym.reshape(gamma, shape=(channels, 1, 1, 1))                # (C, 1, 1, 1)
    return mx.sym.Convolution(normed, weight=weight, bias=beta, num_filter=channels,
                              num_group=channels, kernel=(1, 1), name=name)  # (N, C, H, W)


def batch_norm(data, name, channels, args):
    """BatchNorm with learnable gamma (fix_gamma False), eps 1e-5, global statistics as
    ``args.bn_use_global_stats`` says; image_norm instead with ``args.bn_image_stats``.
    data (N, ``channels``, H, W) -> same."""
    if args.bn_image_stats:
        return image_norm(data, name, channels)
    return mx.sym.BatchNorm(data=data, name=name, use_global_stats=args.bn_use_global_stats,
                            fix_gamma=False, eps=BN_EPS)


def batch_norm_relu(data, name, relu_name, channels, args):
    """BatchNorm ``name`` (see batch_norm) then ReLU ``relu_name``; with ``args.fuse_bn_relu``
    (and not ``args.bn_image_stats``) one contrib.BatchNormWithReLU ``name`` computing the
    same values. data (N, ``channels``, H, W) -> same."""
    if args.fuse_bn_relu and not args.bn_image_stats:
        return mx.sym.contrib.BatchNormWithReLU(data=data, name=name, fix_gamma=False,
                                                use_global_stats=args.bn_use_global_stats,
                                                eps=BN_EPS)
    x = batch_norm(data, name, channels, args)
    return mx.sym.Activation(x, act_type='relu', name=relu_name)


def bottleneck(data, unit, num_filter, stride, dilate, has_shortcut_conv, args):
    """One ResNet-v1 bottleneck unit named ``res{unit}``.

    data (N, Cin, H, W) -> (N, num_filter, H/stride, W/stride). The width of the 1x1/3x3
    branch is num_filter / 4. ``args`` is a TrunkArgs.
    """
    mid = num_filter // 4
    s1, s3 = (stride, 1) if args.stride_in_1x1 else (1, stride)
    res, bn = 'res' + unit, 'bn' + unit

    if has_shortcut_conv:
        shortcut = conv(data, res + '_branch1', num_filter, 1, stride=stride)
        shortcut = batch_norm(shortcut, bn + '_branch1', num_filter, args)
    else:
        shortcut = data

    x = conv(data, res + '_branch2a', mid, 1, stride=s1)
    x = batch_norm_relu(x, bn + '_branch2a', res + '_branch2a_relu', mid, args)
    x = conv(x, res + '_branch2b', mid, 3, stride=s3, pad=dilate, dilate=dilate)
    x = batch_norm_relu(x, bn + '_branch2b', res + '_branch2b_relu', mid, args)
    x = conv(x, res + '_branch2c', num_filter, 1)
    x = batch_norm(x, bn + '_branch2c', num_filter, args)

    out = mx.sym.elemwise_add(shortcut, x, name=res)
    return mx.sym.Activation(out, act_type='relu', name=res + '_relu')


def stage(data, stage_index, num_units, num_filter, stride, dilate, args):
    """Stage ``res{stage_index}``: the first unit changes stride/channels, the rest keep them."""
    names = unit_names(stage_index, num_units, args.depth)
    for i, unit in enumerate(names):
        data = bottleneck(data, unit, num_filter, stride if i == 0 else 1, dilate,
                          has_shortcut_conv=(i == 0), args=args)
    return data


def stem(data, num_filter, args):
    """conv1 KxK/2 (K = args.conv1_kernel(), 7 in ResNet) + bn_conv1 + relu + pool1 3x3/2.
    (N, 3, H, W) -> (N, F, ~H/4, ~W/4), the same size for every K; without
    ``args.stem_pool`` no pool1: (N, F, ~H/2, ~W/2)."""
    k = args.conv1_kernel()
    x = mx.sym.Convolution(data=data, name='conv1', num_filter=num_filter, kernel=(k, k),
                           stride=(2, 2), pad=(k // 2, k // 2), no_bias=True)
    x = batch_norm_relu(x, 'bn_conv1', 'conv1_relu', num_filter, args)
    if not args.stem_pool:
        return x
    return mx.sym.Pooling(x, name='pool1', kernel=(3, 3), stride=(2, 2), pad=(0, 0),
                          pool_type='max', pooling_convention='full')


def resnet_v1_trunk(data, args):
    """Build the trunk on ``data`` (N, 3, H, W) for a TrunkArgs ``args``.

    Returns (conv4, conv5): res4 output (N, filters[3], H/16, W/16) for the RPN and res5
    output (N, filters[4], H/16, W/16) (stride 1, dilation 2) for the FCIS head; H/8, W/8
    without ``args.stem_pool`` (args.feature_stride()).
    """
    units = args.stage_units()
    filters = args.stage_filters()
    x = stem(data, filters[0], args)
    x = stage(x, 2, units[0], filters[1], stride=1, dilate=1, args=args)
    x = stage(x, 3, units[1], filters[2], stride=2, dilate=1, args=args)
    conv4 = stage(x, 4, units[2], filters[3], stride=2, dilate=1, args=args)
    conv5 = stage(conv4, 5, units[3], filters[4], stride=1, dilate=2, args=args)
    return conv4, conv5
