"""Evaluation: COCO results files, COCO metrics (pycocotools), SDS mAP^r, and reporting.

- ``results``: per-image detections <-> COCO results JSON.
- ``coco_eval``: COCOeval for "segm" and "bbox", 12 named stats per IoU type.
- ``sds_eval``: SDS mAP^r (VOC07 11-point AP at mask IoU thresholds).
- ``report``: metrics table and ``metrics.json``.
"""
