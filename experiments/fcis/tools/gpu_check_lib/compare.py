"""GPU-vs-CPU comparison rules and the report (NumPy + stdlib only).

Rules (each result names its rule):

* ``bit-identical``: every bit equal (float32 compared as uint32, float64 as uint64, so
  -0.0 != 0.0), on all elements of a stored array, or on the digest of all elements plus the
  stored sample. Used where the arithmetic is shared and free of order or library
  differences: PSROIPooling forward (mul_rn/add_rn, IEEE division, floorf/ceilf/roundf, one
  thread per output summing its bin in the CPU's order), Group_Max and Group_Pick (copies and
  comparisons), NMS keep lists, mask-voting crops (integers) and soft votes (float64 sums of
  the same float32 products in member order, mask_voting_kernel.h).
* ``psroi-backward``: |gpu - cpu| <= 1e-5 * A, A = the CPU backward of |out_grad| at that
  element (the sum of the magnitudes of its contributions). The GPU scatters with atomicAdd
  in an unspecified order; each contribution (out_grad / bin area) is the same float on both
  sides, only the summation order differs, which moves a sum of n terms by a few sqrt(n)
  float32 ulps of A (n < ~1200 at COCO sizes: < 1e-5 * A). A lost or doubled contribution
  moves it by at least one share (>= A / n, 8e-4 * A for n = 1200): caught.
* ``softmax``: |gpu - cpu| <= 1e-6 * |cpu|. CUDA's expf is within 2 ulp (the CPU's glibc
  within 1), the rest is IEEE division, so outputs agree to a few ulp (~4e-7 relative).
* ``softmax-backward``: |gpu - cpu| <= 4e-6 + 1e-5 * |cpu|, out_grad in [-1, 1). The
  y * (dy - sum dy*y) of channel_operator.h may be contracted to FMAs by nvcc and inherits the
  few-ulp differences of y; with |y| <= 1, |dy| < 1 that is ~1e-6 absolute.
"""
import json

import numpy as np

from .store import digest, get_expected

RULES = {
    'bit-identical': None,
    'psroi-backward': dict(atol=0.0, rtol=0.0, scale=1e-5),
    'softmax': dict(atol=0.0, rtol=1e-6, scale=0.0),
    'softmax-backward': dict(atol=4e-6, rtol=1e-5, scale=0.0),
}


def _bits(values):
    values = np.ascontiguousarray(values)
    if values.dtype == np.float32:
        return values.view(np.uint32)
    return values.view(np.uint64) if values.dtype == np.float64 else values


def compare(npz, key, got, rule, scale_key=None):
    """(ok, detail) for GPU result `got` against the CPU result stored under key.

    rule: a RULES name; scale_key: stored array of per-element scales (rule psroi-backward).
    """
    whole, expected, positions, want_digest, shape = get_expected(npz, key)
    got = np.ascontiguousarray(got)
    if got.shape != tuple(shape):
        return False, 'shape %s, expected %s' % (got.shape, tuple(shape))
    sampled = got.reshape(-1)[positions]
    where = 'all %d' % got.size if whole is not None else '%d sampled of %d' % (
        len(positions), got.size)
    if RULES[rule] is None:
        bad = int(np.count_nonzero(_bits(sampled) != _bits(expected.astype(got.dtype))))
        digest_ok = want_digest is None or digest(got) == want_digest
        detail = '%d of %s elements differ' % (bad, where)
        if want_digest is not None:
            detail += ', digest of all %s' % ('equal' if digest_ok else 'DIFFERS')
        return bad == 0 and digest_ok, detail
    r = RULES[rule]
    ref = expected.astype(np.float64)
    tol = r['atol'] + r['rtol'] * np.abs(ref)
    if scale_key is not None:
        tol = tol + r['scale'] * get_expected(npz, scale_key)[1].astype(np.float64)
    err = np.abs(sampled.astype(np.float64) - ref)
    bad = int(np.count_nonzero(~(err <= tol)))  # NaN counts as bad
    exact = int(np.count_nonzero(_bits(sampled) == _bits(expected)))
    ratio = float(np.max(err / np.maximum(tol, 1e-300))) if err.size else 0.0
    return bad == 0, '%d of %s outside tolerance (max err/tol %.3g, %d bit-equal)' % (
        bad, where, ratio, exact)


def result(name, rule, ok, detail, times_ms=None):
    """One row of the report; times_ms: timed runs (median reported)."""
    return dict(case=name, rule=rule, ok=bool(ok), detail=detail,
                median_ms=None if not times_ms else float(np.median(times_ms)),
                runs=0 if not times_ms else len(times_ms))


def print_table(results, out=print):
    """Aligned table: case, PASS/FAIL, rule, median time, detail."""
    out('%-40s %-4s %-16s %10s  %s' % ('case', 'ok', 'rule', 'median ms', 'detail'))
    for r in results:
        ms = '%10.4f' % r['median_ms'] if r['median_ms'] is not None else '%10s' % '-'
        out('%-40s %-4s %-16s %s  %s' % (r['case'], 'PASS' if r['ok'] else 'FAIL', r['rule'],
                                         ms, r['detail']))


def summary(results, device):
    """The one-line JSON summary (also what --out receives, with the full results)."""
    return dict(status='pass' if all(r['ok'] for r in results) else 'fail', device=device,
                passed=sum(r['ok'] for r in results), failed=sum(not r['ok'] for r in results),
                timings_ms={r['case']: r['median_ms'] for r in results
                            if r['median_ms'] is not None})


def dumps(obj):
    return json.dumps(obj, sort_keys=True)
