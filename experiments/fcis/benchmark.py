#!/usr/bin/env python
"""Benchmarks of the FCIS code on this machine.

    python experiments/fcis/benchmark.py ops [--runs 5]    # native operators vs MXNet built-ins
    python experiments/fcis/benchmark.py inference         # time per image and its parts
    python experiments/fcis/benchmark.py train             # one training iteration
    python experiments/fcis/benchmark.py loader            # TrainLoader images per second
    python experiments/fcis/benchmark.py peer              # torchvision Mask R-CNN (optional)
    python experiments/fcis/benchmark.py all               # all of them side by side + goals

Each subcommand is a module under experiments/fcis/tools/bench/ with ``main(argv) -> exit code``;
add one by adding a module and a line to SUBCOMMANDS. OMP_NUM_THREADS defaults to 2 (set
before MXNet is imported) so that numbers from different runs compare.
"""
import argparse
import importlib
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# name -> (module, one-line description)
SUBCOMMANDS = {
    'ops': ('experiments.fcis.tools.bench.ops',
            'PSROIPooling vs contrib.PSROIPooling (COCO sizes), ChannelOperator (FCIS size), '
            'Python CustomOps'),
    'inference': ('experiments.fcis.tools.bench.inference',
                  'time per image of COCO/shapes inference and its parts, conv GFLOP/s'),
    'train': ('experiments.fcis.tools.bench.train',
              'one training iteration and where its time goes'),
    'loader': ('experiments.fcis.tools.bench.loader', 'TrainLoader images per second'),
    'peer': ('experiments.fcis.tools.bench.peer',
             'torchvision Mask R-CNN R50-FPN training step and inference at 600x1000 '
             '(skipped without torch)'),
    'all': ('experiments.fcis.tools.bench.all',
            'everything in one run (peak, inference, train, loader, memory) and the goals'),
}


def main(argv=None):
    parser = argparse.ArgumentParser(
        description='FCIS benchmarks',
        epilog='subcommands:\n' + '\n'.join('  %-9s %s' % (name, info[1])
                                               for name, info in SUBCOMMANDS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('name', choices=sorted(SUBCOMMANDS), help='which benchmark')
    parser.add_argument('args', nargs=argparse.REMAINDER, help='options of the benchmark (-h)')
    args = parser.parse_args(argv)
    os.environ.setdefault('OMP_NUM_THREADS', '2')  # before anything imports mxnet
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)  # entry point: make the repository importable
    module = importlib.import_module(SUBCOMMANDS[args.name][0])
    return module.main(args.args)


if __name__ == '__main__':
    sys.exit(main())
