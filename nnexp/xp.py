"""The array module the maths runs on, as a parameter.

activations, losses, model, optim and population never name numpy: each function takes its array
module from its input arrays (`namespace(x)`, the convention of the Python array API standard that
SciPy and scikit-learn follow), and the networks are built with an `xp` argument (numpy by default).
An array library with numpy's API (CuPy on a GPU) can so be dropped in by building the network and
the data with it; numpy is what nnexp runs and is tested on. Data loading, metrics and the random
generators (numpy's, for reproducible batch orders) stay on the host.
"""
from __future__ import annotations

import contextlib

import numpy

DEFAULT = numpy
_namespaces = {numpy.ndarray: numpy}  # array type -> module: a dict lookup, not a method call, per use


def namespace(*arrays):
    """The array module of the first argument that is an array (numpy for numpy arrays, numpy's
    scalars and plain numbers)."""
    for a in arrays:
        xp = _namespaces.get(type(a))
        if xp is not None:
            return xp
        get = getattr(a, "__array_namespace__", None)
        if get is not None:
            return _namespaces.setdefault(type(a), get())
    return numpy


def errstate(xp, **kwargs):
    """numpy's floating-point error context for `xp`; nothing for a module without one (a GPU library
    does not raise on overflow)."""
    return xp.errstate(**kwargs) if hasattr(xp, "errstate") else contextlib.nullcontext()
