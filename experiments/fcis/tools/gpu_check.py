#!/usr/bin/env python3
"""The project's CUDA kernels on a real GPU against the CPU path, without MXNet.

    python experiments/fcis/tools/gpu_check.py make-inputs --out build/gpu_check_inputs.npz
    python experiments/fcis/tools/gpu_check.py build [--arch 80,90]
    python experiments/fcis/tools/gpu_check.py run --inputs build/gpu_check_inputs.npz \
        [--out results.json]
    python experiments/fcis/tools/gpu_check.py run-mxnet --inputs ... [--out ...]

make-inputs (CPU machine, MXNet + the project's CPU ops, CPU NMS, Cython mask voting)
writes the cases' inputs and CPU results. build compiles the project's .cu sources and
gpu_check_lib/harness.cu with nvcc into build/gpu_check/<hash>/libgpu_check.so, for the
visible GPU's compute capability, else for sm_80 and sm_90. run (NumPy + stdlib + ctypes
only) builds, runs every kernel on GPU 0, compares with the CPU results (rules in
gpu_check_lib/compare.py), times the COCO-size cases (median of --repeats after --warmup,
CUDA events), prints a table and one JSON line and writes the JSON to --out. run-mxnet does
the same through a CUDA MXNet (mx.gpu(0)) plus one FCIS test forward, GPU vs CPU.

Exit codes: 0 all passed, 1 a check failed or an error, 2 usage, 3 skipped (no GPU, or for
run-mxnet no CUDA MXNet).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from gpu_check_lib import compare, native, store  # noqa: E402

EXIT_PASS, EXIT_FAIL, EXIT_SKIPPED = 0, 1, 3


def _selected(names, only):
    return [n for n in names if not only or any(n.startswith(p) for p in only)]


def make_inputs(out, only=None):
    """Runs the CPU side of the cases whose names start with one of `only` (all if None)
    and writes them to the npz `out`; returns the case names."""
    sys.path.insert(0, native.ROOT)
    import mxnet as mx
    import numpy as np
    from gpu_check_lib import mean_cases, nms_cases, ops_cases, voting_cases, voting_soft_cases
    from lib.nms import nms
    from lib.ops import load_ops
    load_ops()
    data, meta = {}, {}
    for name in _selected(ops_cases.PSROI_CASES, only):
        ops_cases.make_psroi(mx, data, name, ops_cases.PSROI_CASES[name])
        meta[name] = 'psroi'
    for name in _selected(ops_cases.CHANNEL_CASES, only):
        ops_cases.make_channel(mx, data, name, ops_cases.CHANNEL_CASES[name])
        meta[name] = 'channel'
    for name in _selected(mean_cases.MEAN_CASES, only):
        mean_cases.make_mean(mx, data, name, mean_cases.MEAN_CASES[name])
        meta[name] = 'mean'
    for name in _selected(nms_cases.NMS_CASES, only):
        nms_cases.make_nms(nms, data, name, nms_cases.NMS_CASES[name])
        meta[name] = 'nms'
    if _selected(['vote'], only):
        voting_cases.make_voting(data)
        meta['vote'] = 'voting'
    if _selected(['vote_release'], only):
        voting_soft_cases.make_soft_voting(data)
        meta['vote_release'] = 'voting_soft'
    store.put_meta(data, dict(cases=meta, numpy=np.__version__, mxnet=mx.__version__))
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    np.savez_compressed(out + '.tmp.npz', **data)
    os.replace(out + '.tmp.npz', out)
    return sorted(meta)


def run_cases(harness, npz, timing):
    """Every case listed in the npz meta on the GPU; list of result rows."""
    from gpu_check_lib import mean_cases, nms_cases, ops_cases, voting_cases, voting_soft_cases
    kinds = store.get_meta(npz)['cases']
    rows = []
    order = [('psroi', ops_cases.PSROI_CASES, ops_cases.run_psroi),
             ('channel', ops_cases.CHANNEL_CASES, ops_cases.run_channel),
             ('mean', mean_cases.MEAN_CASES, mean_cases.run_mean),
             ('nms', nms_cases.NMS_CASES, nms_cases.run_nms)]
    for kind, cases, run in order:
        for name in [n for n in cases if kinds.get(n) == kind]:
            rows += run(harness, npz, name, cases[name], timing)
    # last: the pieces that follow mask voting's semantics (roi mode, then release mode)
    if kinds.get('vote') == 'voting':
        rows += voting_cases.run_voting(harness, npz, timing)
    if kinds.get('vote_release') == 'voting_soft':
        rows += voting_soft_cases.run_soft_voting(harness, npz, timing)
    return rows


def _finish(rows, device, out_path, extra=None):
    """Prints the table and JSON line, writes out_path; returns the exit code."""
    compare.print_table(rows)
    line = compare.summary(rows, device)
    line.update(extra or {})
    print(compare.dumps(line))
    _write(out_path, dict(line, results=rows))
    return EXIT_PASS if line['status'] == 'pass' else EXIT_FAIL


def _write(path, obj):
    if path:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, 'w') as f:
            f.write(compare.dumps(obj) + '\n')


def _skip(reason, out_path):
    print('skipped: %s' % reason)
    _write(out_path, dict(status='skipped', reason=reason))
    return EXIT_SKIPPED


def run(args):
    """The `run` subcommand; returns the exit code."""
    import numpy as np
    if not os.path.isfile(args.inputs):
        raise SystemExit('gpu_check: %s does not exist; make it with `gpu_check.py make-inputs '
                         '--out %s` on a machine with MXNet' % (args.inputs, args.inputs))
    cc, name = native.detect_gpu()
    if cc is None:
        return _skip('no GPU (%s)' % name, args.out)
    library, seconds, cached = native.build(native.choose_archs(args.arch or cc))
    print('gpu_check: %s %s (%.1f s)' % ('using' if cached else 'built', library, seconds))
    harness = native.Harness(library)
    count, runtime_cc, runtime_name = harness.device_info()
    device = '%s (sm_%s)' % (runtime_name, runtime_cc)
    print('gpu_check: GPU 0 of %d: %s; numpy %s' % (count, device, np.__version__))
    with np.load(args.inputs) as npz:
        rows = run_cases(harness, npz, dict(warmup=args.warmup, repeats=args.repeats))
    return _finish(rows, device, args.out, dict(build_s=round(seconds, 1)))


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    sub = parser.add_subparsers(dest='command', required=True)
    make = sub.add_parser('make-inputs', help='CPU side: inputs and CPU results (needs MXNet)')
    make.add_argument('--out', required=True, help='npz to write')
    make.add_argument('--only', help='comma-separated case-name prefixes (default: all)')
    build = sub.add_parser('build', help='compile the harness with nvcc')
    build.add_argument('--arch', help='compute capabilities, e.g. 90 or 80,90 or native')
    for name in ('run', 'run-mxnet'):
        p = sub.add_parser(name, help='GPU side' + (' through MXNet' if 'mx' in name else ''))
        p.add_argument('--inputs', required=True, help='npz written by make-inputs')
        p.add_argument('--out', help='JSON file for the results')
        p.add_argument('--warmup', type=int, default=3)
        p.add_argument('--repeats', type=int, default=20)
        if name == 'run':
            p.add_argument('--arch', help='override the detected compute capability')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        if args.command == 'make-inputs':
            names = make_inputs(args.out, args.only.split(',') if args.only else None)
            print('gpu_check: wrote %s (%.1f MiB): %s' % (
                args.out, os.path.getsize(args.out) / 2.0 ** 20, ', '.join(names)))
            return EXIT_PASS
        if args.command == 'build':
            library, seconds, cached = native.build(native.choose_archs(args.arch))
            print('gpu_check: %s %s (%.1f s)' % ('up to date:' if cached else 'built', library,
                                                 seconds))
            return EXIT_PASS
        if args.command == 'run-mxnet':
            sys.path.insert(0, native.ROOT)
            from gpu_check_lib import mxnet_gpu
            return mxnet_gpu.main(args, _skip, _finish)
        return run(args)
    except (native.BuildError, RuntimeError, ValueError, OSError) as err:
        print('gpu_check: FAILED: %s' % err)
        _write(getattr(args, 'out', None) if args.command != 'make-inputs' else None,
               dict(status='error', error=str(err)))
        return EXIT_FAIL


if __name__ == '__main__':
    sys.exit(main())
