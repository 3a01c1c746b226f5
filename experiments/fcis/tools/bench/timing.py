"""Timing helpers shared by the benchmark subcommands."""
import statistics
import time


def median_seconds(fn, runs=5, warmup=1):
    """Median wall time of ``fn()`` over ``runs`` calls after ``warmup`` untimed calls.
    ``fn`` must block until its work is done (e.g. call ``wait_to_read``)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def interleaved_medians(fns, runs=5, warmup=1):
    """{name: median wall time} of the blocking functions ``fns`` {name: fn}, timed in
    turn (one call of each per round, ``runs`` rounds after ``warmup`` rounds), so that a
    change of the machine's load during the measurement affects all of them alike and
    differences between them stay meaningful."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times = {name: [] for name in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}

