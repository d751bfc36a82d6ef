"""Unlearning for class-conditional diffusion: one module per method, a registry, one loop, one runner.

Importing this package registers every method (retrain, ft, ga, salun, erasediff, sa, esd, dimum).
"""

from privgen.unlearn import dimum, erasediff, esd, ft, ga, retrain, sa, salun  # noqa: F401  (registration)
from privgen.unlearn.registry import METHODS, build_method, get_method

__all__ = ["METHODS", "build_method", "get_method", "unlearn"]


def unlearn(*args, **kwargs):
    """See `privgen.unlearn.run.unlearn` (imported lazily: it pulls in data and sampling)."""
    from privgen.unlearn.run import unlearn as _unlearn

    return _unlearn(*args, **kwargs)
