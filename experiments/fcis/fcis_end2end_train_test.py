"""Train FCIS with a config, then test the last epoch:

    python experiments/fcis/fcis_end2end_train_test.py --cfg experiments/fcis/cfgs/<exp>.yaml [KEY=VALUE ...]

KEY=VALUE overrides may stand anywhere on the command line. A failure the user can fix
ends in one line "error: ..." and exit status 1; --debug shows the traceback instead.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..')))

import lib  # noqa: E402,F401  (sets OMP_NUM_THREADS before MXNet loads)
from fcis.cli import run_main  # noqa: E402
from fcis.config import load_config  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--cfg', required=True, help='experiment YAML (experiments/fcis/cfgs/)')
    parser.add_argument('--skip-test', action='store_true', help='train only')
    parser.add_argument('--resume', action='store_true',
                        help='continue from the last complete checkpoint (= TRAIN.RESUME=True)')
    parser.add_argument('overrides', nargs='*', help='config overrides KEY=VALUE, e.g. TRAIN.end_epoch=2')
    return parser.parse_intermixed_args(argv)


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.cfg, args.overrides + (['TRAIN.RESUME=True'] if args.resume else []))
    from fcis.train_end2end import train_net
    from fcis.test import test_net
    if not args.skip_test:  # a test setting that cannot work stops the run before training
        from fcis.config.symbol_args import network_args
        network_args(cfg, is_train=False)
    train_net(cfg)
    from fcis.core.dist import last_rank
    if not args.skip_test and last_rank() == 0:  # in distributed runs only worker 0 tests
        test_net(cfg, epoch=cfg.TRAIN.end_epoch)


if __name__ == '__main__':
    run_main(main)
