"""Keys of the original FCIS release's YAML files that this project's schema spells or
places differently, or does not have.

``translate_release_keys(data, source)`` rewrites a mapping loaded from a YAML file so that
the release's ``resnet_v1_101_coco_fcis_end2end_ohem.yaml``,
``resnet_v1_101_vocSDS_fcis_end2end.yaml`` and ``fcis_coco_demo.yaml`` load unchanged: each
of their keys is mapped to ours, checked, or removed with one log line saying why it has no
effect here. Keys in neither schema are left alone, so the merge still rejects them. Keys
in both merge as they are; ``fcis.config.config`` checks those with one behaviour here
(``DEFAULT_ONLY``: CLASS_AGNOSTIC, TRAIN.BBOX_WEIGHTS, ...) and a given network.NUM_ANCHORS
(it must equal len(ANCHOR_SCALES) x len(ANCHOR_RATIOS)).

    release key                      here
    MASK_SIZE                        must equal network.PSROI_POOLED_SIZE (mask targets are
                                     the assembled maps' size)
    BINARY_THRESH (top level)        TEST.BINARY_THRESH (mask voting and evaluation)
    SCALES: [600, 1000]              SCALES: [[600, 1000]]
    network.FIXED_PARAMS_SHARED      no effect (alternate RPN/R-CNN training only)
    dataset.dataset: PascalVOC       'sds'; image sets SDS_train/SDS_val -> train/val;
                                     dataset_path <path> -> <path>/VOCSDS
    dataset.proposal: rpn            no effect (proposals always come from the RPN)
    TRAIN.END2END: true              no effect (training is always end to end)
    TRAIN.BBOX_REGRESSION_THRESH     no effect (used by precomputed R-CNN box targets only)
    TRAIN.LOSS_WEIGHT                TRAIN.LOSS_WEIGHTS
    TRAIN.CONVNEW3                   network.CONV_NEW_LR_MULT 3 (true) or 1 (false)
    TEST.PROPOSAL_*                  no effect (the RPN-only proposal dump, not FCIS testing)
"""
import logging
import os

logger = logging.getLogger(__name__)

# (section or None, key) -> why it has no effect in this project
NO_EFFECT = {
    ('network', 'FIXED_PARAMS_SHARED'): 'it lists the parameters the release freezes in its '
                                        'alternate RPN/R-CNN training; end-to-end training '
                                        'uses network.FIXED_PARAMS',
    ('TRAIN', 'BBOX_REGRESSION_THRESH'): 'the release uses it for precomputed R-CNN box '
                                         'targets only; end-to-end box targets come from the '
                                         'sampled foreground ROIs',
    **{('TEST', key): "it configures the release's RPN-only proposal dump, not FCIS testing "
                      "(TEST.RPN_* does)"
       for key in ('PROPOSAL_NMS_THRESH', 'PROPOSAL_PRE_NMS_TOP_N', 'PROPOSAL_POST_NMS_TOP_N',
                   'PROPOSAL_MIN_SIZE')},
}
# (section, key) -> the only value with a meaning here, and why
REQUIRED_VALUE = {
    ('TRAIN', 'END2END'): (True, 'training is always end to end'),
    ('dataset', 'proposal'): ('rpn', 'proposals always come from the RPN'),
}
# (section or None, key) -> (section, key) of this project
RENAMED = {
    (None, 'BINARY_THRESH'): ('TEST', 'BINARY_THRESH'),
    ('TRAIN', 'LOSS_WEIGHT'): ('TRAIN', 'LOSS_WEIGHTS'),
}
VOC_IMAGE_SETS = {'SDS_train': 'train', 'SDS_val': 'val'}


class ReleaseKeyError(ValueError):
    """A release key with a value this project cannot honour."""


def _section(data, name):
    return data if name is None else data.setdefault(name, {})


def _pop(data, section, key):
    """(True, value) and remove data[section][key] if present, else (False, None)."""
    holder = data if section is None else data.get(section)
    if not isinstance(holder, dict) or key not in holder:
        return False, None
    return True, holder.pop(key)


def _name(section, key):
    return key if section is None else '%s.%s' % (section, key)


def _translate_voc(data, source, notes):
    dataset = data.get('dataset')
    if not isinstance(dataset, dict) or dataset.get('dataset') != 'PascalVOC':
        return
    dataset['dataset'] = 'sds'
    for key in ('image_set', 'test_image_set'):
        if key in dataset:
            dataset[key] = '+'.join(VOC_IMAGE_SETS.get(part, part)
                                    for part in str(dataset[key]).split('+'))
    if 'dataset_path' in dataset:
        dataset['dataset_path'] = os.path.join(str(dataset['dataset_path']), 'VOCSDS')
    notes.append("%s: dataset.dataset PascalVOC read as 'sds' (image sets %s, dataset_path "
                 "%s)" % (source, dataset.get('image_set'), dataset.get('dataset_path')))


def _translate_scales(data):
    scales = data.get('SCALES')
    if (isinstance(scales, (list, tuple)) and len(scales) == 2
            and all(isinstance(v, (int, float)) for v in scales)):
        data['SCALES'] = [list(scales)]


def translate_release_keys(data, source):
    """Rewrite the release's keys of ``data`` (a YAML mapping) in place.

    Returns (notes, checks): notes are log lines about keys without effect; checks is a
    list of (config key path, required value, release key) the merged config must meet.
    Raises ReleaseKeyError naming the key for a value this project cannot honour.
    """
    notes, checks = [], []
    for (section, key), reason in NO_EFFECT.items():
        found, _ = _pop(data, section, key)
        if found:
            notes.append('%s: release key %s has no effect here: %s'
                         % (source, _name(section, key), reason))
    for (section, key), (required, reason) in REQUIRED_VALUE.items():
        found, value = _pop(data, section, key)
        if found and value != required:
            raise ReleaseKeyError("%s: key '%s' must be %r (%s), got %r"
                                  % (source, _name(section, key), required, reason, value))
        if found:
            notes.append('%s: release key %s has no effect here: %s'
                         % (source, _name(section, key), reason))
    for (section, key), (new_section, new_key) in RENAMED.items():
        found, value = _pop(data, section, key)
        if found:
            _section(data, new_section)[new_key] = value
    found, value = _pop(data, 'TRAIN', 'CONVNEW3')
    if found:
        if not isinstance(value, bool):
            raise ReleaseKeyError("%s: key 'TRAIN.CONVNEW3' must be true or false, got %r"
                                  % (source, value))
        _section(data, 'network')['CONV_NEW_LR_MULT'] = 3.0 if value else 1.0
    found, value = _pop(data, None, 'MASK_SIZE')
    if found:
        checks.append((('network', 'PSROI_POOLED_SIZE'), value, 'MASK_SIZE'))
    _translate_scales(data)
    _translate_voc(data, source, notes)
    return notes, checks


def check_release_values(config, checks, source):
    """Raise ReleaseKeyError when a checked release key disagrees with the merged config."""
    for (section, key), required, release_key in checks:
        actual = config[section][key]
        if actual != required:
            raise ReleaseKeyError("%s: key '%s' is %r but this config gives %s.%s = %r; they "
                                  "must agree (remove the key or fix %s.%s)"
                                  % (source, release_key, required, section, key, actual,
                                     section, key))


def log_notes(notes):
    for line in notes:
        logger.warning(line)
