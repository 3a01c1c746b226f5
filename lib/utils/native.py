"""Import of the project's compiled (Cython) extensions with one clear error when unbuilt."""
import importlib


def import_extension(name):
    """The compiled module ``name`` (e.g. 'lib.nms.cpu_nms').

    Raises ImportError naming the module and the build command when it is not built.
    """
    try:
        return importlib.import_module(name)
    except ImportError as err:
        raise ImportError('%s is not built; run `python setup.py build_ext --inplace` in the '
                          'repository root (%s)' % (name, err)) from err
