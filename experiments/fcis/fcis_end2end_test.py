"""Test a trained FCIS epoch with a config:

    python experiments/fcis/fcis_end2end_test.py --cfg experiments/fcis/cfgs/<exp>.yaml [--epoch N] [KEY=VALUE ...]
    python experiments/fcis/fcis_end2end_test.py --cfg <yaml> --params model/fcis_coco-0000.params

--params tests any MXNet .params file with the config's names, the FCIS release's included.
KEY=VALUE overrides may stand anywhere on the command line; a failure the user can fix ends
in one line "error: ..." and exit status 1 (--debug shows the traceback).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..')))

import lib  # noqa: E402,F401  (sets OMP_NUM_THREADS before MXNet loads)
from fcis.cli import run_main  # noqa: E402
from fcis.config import load_config  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--cfg', required=True, help='experiment YAML (experiments/fcis/cfgs/)')
    parser.add_argument('--epoch', type=int, default=None, help='epoch to test (default TEST.test_epoch)')
    parser.add_argument('--params', default=None,
                        help='a .params file to test instead of a checkpoint of the run')
    parser.add_argument('overrides', nargs='*', help='config overrides KEY=VALUE')
    args = parser.parse_intermixed_args(argv)
    cfg = load_config(args.cfg, args.overrides)
    from fcis.test import load_params_file, test_net
    params = load_params_file(cfg, args.params) if args.params else None
    return test_net(cfg, epoch=args.epoch, params=params)


if __name__ == '__main__':
    run_main(main)
