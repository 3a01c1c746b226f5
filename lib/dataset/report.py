"""The dataset report: what a ground-truth roidb holds and what was left out, by reason.

``dataset_report(roidb, classes)`` is a pure function of the entries (the datasets record
each left-out annotation in ``entry['skipped']`` as (reason, annotation id)); flipped copies
are not counted. ``format_report`` turns it into the table training logs first.
"""
import collections

FIRST_IDS = 5   # ids listed per reason

NO_ANNOTATIONS = 'no annotations'
ONLY_CROWD = 'only crowd regions'
ALL_LEFT_OUT = 'every annotation left out'


def image_skip_reason(entry):
    """Why an entry trains nothing (None when it has an instance)."""
    if len(entry['boxes']) > 0:
        return None
    if entry.get('skipped'):
        return ALL_LEFT_OUT
    return ONLY_CROWD if len(entry.get('crowd_boxes', ())) else NO_ANNOTATIONS


def _by_reason(pairs):
    """[(reason, id)] -> {reason: {'count': n, 'ids': first FIRST_IDS ids}} in first-seen order."""
    out = collections.OrderedDict()
    for reason, ident in pairs:
        slot = out.setdefault(reason, {'count': 0, 'ids': []})
        slot['count'] += 1
        if len(slot['ids']) < FIRST_IDS:
            slot['ids'].append(ident)
    return out


def dataset_report(roidb, classes):
    """Counts of the unflipped entries of ``roidb``.

    classes: class names, index 0 the background. Returns a dict: images, images_used
    (with at least one instance), instances {class name: count} (every class), crowd
    (crowd regions), skipped_annotations and skipped_images {reason: {'count', 'ids'}}.
    """
    entries = [e for e in roidb if not e.get('flipped', False)]
    counts = collections.Counter(int(c) for e in entries for c in e['gt_classes'])
    image_reasons = [(image_skip_reason(e), e['image_id']) for e in entries]
    return {'images': len(entries),
            'images_used': sum(1 for reason, _ in image_reasons if reason is None),
            'instances': collections.OrderedDict((name, counts.get(j, 0))
                                                 for j, name in enumerate(classes) if j > 0),
            'crowd': sum(len(e.get('crowd_boxes', ())) for e in entries),
            'skipped_annotations': _by_reason(p for e in entries for p in e.get('skipped', ())),
            'skipped_images': _by_reason(p for p in image_reasons if p[0] is not None)}


def format_report(report, title):
    """The report as a text table (lines joined by newlines) under ``title``."""
    def row(name, value, ids=None, indent=2):
        text = '%s%-*s %7d' % (' ' * indent, 34 - indent, name, value)
        return text + ('   ids %s%s' % (', '.join(str(i) for i in ids['ids']),
                                         ', ...' if ids['count'] > len(ids['ids']) else '')
                       if ids else '')
    lines = [title, row('images', report['images']), row('images used', report['images_used']),
             '  instances per class']
    lines += [row(name, n, indent=4) for name, n in report['instances'].items()]
    lines.append(row('crowd regions', report['crowd']))
    for key, label in (('skipped_annotations', 'annotations left out'),
                       ('skipped_images', 'images left out')):
        total = sum(s['count'] for s in report[key].values())
        lines.append(row(label, total))
        lines += [row(reason, s['count'], s, indent=4) for reason, s in report[key].items()]
    return '\n'.join(lines)
