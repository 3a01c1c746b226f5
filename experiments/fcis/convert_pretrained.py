"""Convert an ImageNet-pretrained ResNet into the MXNet resnet_v1 parameter names:

    python experiments/fcis/convert_pretrained.py --from detectron R-101.pkl \
        model/pretrained_model/resnet_v1_101-0000.params
    python experiments/fcis/convert_pretrained.py --from torchvision resnet101.pth \
        model/pretrained_model/resnet_v1_101_torchvision-0000.params

Sources, licences and the config keys to use with each file: model/README.md.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..')))

import lib  # noqa: E402,F401  (sets OMP_NUM_THREADS before MXNet loads)
from fcis.convert.pickle_reader import ConvertError  # noqa: E402
from fcis.convert.pretrained import (DEFAULT_PIXEL_MEANS, INPUT_ORDERS,  # noqa: E402
                                     SOURCE_INPUT, convert, keeps_bn_stats)
from fcis.convert.readers import read_source  # noqa: E402
from lib.utils.checkpoint import save_params  # noqa: E402

# what the FCIS config must say to use the converted file with the layout it was trained in
CONFIG_HINT = {
    'detectron': 'network.STRIDE_IN_1X1: true (the default; stride in the 1x1 conv like Caffe)',
    'torchvision': 'network.STRIDE_IN_1X1: false (torchvision puts the stride in the 3x3 conv)',
}


def parse_means(text):
    """'103.06,115.90,123.15' -> (103.06, 115.9, 123.15)."""
    try:
        means = tuple(float(v) for v in text.split(','))
    except ValueError:
        means = ()
    if len(means) != 3:
        raise argparse.ArgumentTypeError('expected three comma-separated numbers B,G,R, got %r'
                                         % text)
    return means


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--from', dest='source', required=True, choices=sorted(SOURCE_INPUT),
                        help="detectron: the MSRA model as Caffe2 blobs (Detectron's or "
                             "detectron2's R-101.pkl); torchvision: a resnet101 state dict "
                             "(.pth, .npz or a pickle of arrays)")
    parser.add_argument('input', help='the source file')
    parser.add_argument('output', help='the .params file to write, e.g. '
                        'model/pretrained_model/resnet_v1_101-0000.params')
    parser.add_argument('--depth', type=int, default=101, choices=(50, 101, 152),
                        help='ResNet depth of the source (network.depth), default 101')
    parser.add_argument('--input-order', default='rgb', choices=INPUT_ORDERS,
                        help='channel order of the images the FCIS pipeline feeds; rgb (the '
                             'default) is that of the public resnet_v1_101-0000.params')
    parser.add_argument('--pixel-means', type=parse_means, default=DEFAULT_PIXEL_MEANS,
                        help='network.PIXEL_MEANS, B,G,R (default %s)'
                        % ','.join('%g' % m for m in DEFAULT_PIXEL_MEANS))
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if not args.output.endswith('.params'):
        sys.exit('error: the output %s must end in -NNNN.params (e.g. resnet_v1_101-0000.params)'
                 ' so that network.pretrained / pretrained_epoch can name it' % args.output)
    try:
        arrays = read_source(args.input)
        arg_params, aux_params, ignored = convert(arrays, args.source, args.depth,
                                                  args.input_order, args.pixel_means,
                                                  path=args.input)
    except ConvertError as err:
        sys.exit('error: %s' % err)
    folder = os.path.dirname(args.output)
    if folder:
        os.makedirs(folder, exist_ok=True)
    save_params(args.output, arg_params, aux_params)
    print('wrote %s: %d arg and %d aux tensors from %d of %s'
          % (args.output, len(arg_params), len(aux_params), len(arrays) - len(ignored),
             args.input))
    if args.source == 'detectron':
        print('BatchNorm: %s' % ('running mean / variance copied (detectron2 layout)'
                                 if keeps_bn_stats(args.source, arrays)
                                 else 'affine y = x * s + b folded (Detectron layout)'))
    if ignored:
        print('dropped on purpose (classifier, solver state, BN counters): %d tensor(s), e.g. %s'
              % (len(ignored), ', '.join(ignored[:4])))
    print('input: %s images minus network.PIXEL_MEANS %s; config: %s'
          % (args.input_order.upper(), list(args.pixel_means), CONFIG_HINT[args.source]))


if __name__ == '__main__':
    main()
