"""Peak memory of one measurement, run in its own process so each has its own peak:

    python -m experiments.fcis.tools.bench.memory inference coco  # bind, 1 image, post-processing
    python -m experiments.fcis.tools.bench.memory train coco      # 2 training iterations (fit)

Prints one JSON line {"kind", "config", "peak_rss_mb", "ru_maxrss_mb"}: the peak resident
memory of this process (VmHWM; ru_maxrss also carries the parent's peak, see
common.peak_rss_mb).
``common.peak_memory_subprocess`` runs it.
"""
import json
import os
import sys

import mxnet as mx

from experiments.fcis.tools.bench import common
from fcis.config.symbol_args import network_args


def inference_peak(config):
    """Bind the test symbol with random weights, detect on one random image."""
    from fcis.core.tester import ImageFrame, InferenceModule, image_detections
    cfg = common.load_bench_config(config)
    height, width = common.test_size(cfg)
    sym = common.test_symbol(cfg)
    shape = (1, 3, height, width)
    trunk = network_args(cfg, is_train=False).trunk
    arg_params, aux_params = common.random_params(sym, shape, trunk)
    predictor = InferenceModule(sym, arg_params, aux_params, mx.cpu(),
                          [('data', shape), ('im_info', (1, 3))])
    data = common.random_image(shape)
    batch = mx.io.DataBatch(data=[data, mx.nd.array([[height, width, 1.0]])])
    outputs = predictor.predict(batch)
    image_detections(outputs, ImageFrame(1.0, height, width, height, width),
                     cfg.dataset.NUM_CLASSES, cfg.TEST)


def train_peak(config):
    """Two iterations of the training loop (the second one with optimizer states)."""
    from experiments.fcis.tools.bench.train_loop import BatchClock, Stopwatch, train_iterations
    from experiments.fcis.tools.bench.data import BenchData
    cfg = common.load_bench_config(config)
    with BenchData(cfg, config, num_images=2) as roidb:
        train_iterations(cfg, roidb, 2, Stopwatch(), BatchClock())


def main(argv):
    if len(argv) != 2 or argv[0] not in ('inference', 'train') or argv[1] not in common.CONFIGS:
        print('usage: python -m experiments.fcis.tools.bench.memory inference|train %s'
              % '|'.join(sorted(common.CONFIGS)), file=sys.stderr)
        return 2
    kind, config = argv
    common.load_ops()
    (inference_peak if kind == 'inference' else train_peak)(config)
    mx.nd.waitall()
    import resource
    print(json.dumps({'kind': kind, 'config': config, 'peak_rss_mb': common.peak_rss_mb(),
                      'ru_maxrss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
                      'omp_num_threads': os.environ.get('OMP_NUM_THREADS')}))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
