"""Reading a COCO-format annotation file with errors that name the file and the fix.

``load_coco_api(path)`` parses the json itself (a syntax error names the line and column),
checks the fields pycocotools indexes (``images[].id/file_name/height/width``,
``annotations[].id/image_id/category_id``, ``categories[].id/name``) and builds the
pycocotools ``COCO`` object from the parsed content, without its progress prints.
"""
import contextlib
import io
import json

from pycocotools.coco import COCO

from .imdb import DatasetError

# list name -> (fields every element needs, what the element is called in messages)
REQUIRED_FIELDS = {
    'images': (('id', 'file_name', 'height', 'width'), 'image'),
    'annotations': (('id', 'image_id', 'category_id'), 'annotation'),
    'categories': (('id', 'name'), 'category'),
}
FORMAT_HELP = 'see the COCO-format description in data/README.md'


def read_json(path):
    """The parsed content of the json file ``path``.

    Raises DatasetError naming the file, and the line and column of a syntax error.
    """
    with open(path, 'rb') as f:
        raw = f.read()
    try:
        return json.loads(raw.decode('utf-8'))
    except UnicodeDecodeError as err:
        raise DatasetError('annotation file %s is not UTF-8 text (byte %d): it is not a json '
                           'file; %s' % (path, err.start, FORMAT_HELP)) from None
    except json.JSONDecodeError as err:
        end = ' (the file ends there: it is truncated)' if err.pos >= len(raw.rstrip()) else ''
        raise DatasetError('annotation file %s is not valid json: %s at line %d column %d%s; '
                           're-export or re-download it' % (path, err.msg, err.lineno, err.colno,
                                                            end)) from None


def check_coco_content(content, path):
    """Raise DatasetError unless ``content`` has the lists and fields pycocotools indexes."""
    if not isinstance(content, dict):
        raise DatasetError("annotation file %s holds a json %s; a COCO-format file holds an "
                           "object with 'images', 'annotations' and 'categories'; %s"
                           % (path, type(content).__name__, FORMAT_HELP))
    if 'images' not in content:
        raise DatasetError("annotation file %s has no 'images' list; %s" % (path, FORMAT_HELP))
    for key, (fields, what) in REQUIRED_FIELDS.items():
        items = content.get(key, [])
        if not isinstance(items, list):
            raise DatasetError("annotation file %s: '%s' must be a list, got a %s; %s"
                               % (path, key, type(items).__name__, FORMAT_HELP))
        for index, item in enumerate(items):
            missing = [f for f in fields if not isinstance(item, dict) or f not in item]
            if missing:
                name = item.get('id', '?') if isinstance(item, dict) else '?'
                raise DatasetError("annotation file %s: %s %s (%s[%d]) has no '%s'; every %s "
                                   "needs %s" % (path, what, name, key, index, missing[0], what,
                                                 ', '.join("'%s'" % f for f in fields)))


def load_coco_api(path):
    """pycocotools COCO object of the checked annotation file ``path`` (see module doc)."""
    content = read_json(path)
    check_coco_content(content, path)
    coco = COCO()
    coco.dataset = content
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco
