"""Validation of every message on receipt: kind, sender, receiver, tag, shape, dtype and finite values.

A NaN in one party's features or in the server's feature gradients would otherwise be accepted and
poison every party's weights within a step. Zero rows are allowed: a Poisson-sampled DP step may sample no
row, and it must still run (noise only). The in-process transport runs this on every `send`; a
transport between machines (Ray) reuses the same validator on the receiving side.
"""

from __future__ import annotations

import re

import torch

from privgen.errors import UserError

KINDS = ("control", "features", "feature_grad")
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class MessageError(UserError, ValueError):
    """A message that must not be delivered; names sender, receiver, kind and tag."""


class MessageValidator:
    """Stateless checks plus one memory: a feature gradient must have the shape of the features it answers."""

    def __init__(self) -> None:
        self._feature_shapes: dict[tuple[str, frozenset[str]], tuple[int, ...]] = {}

    def check(self, sender: str, receiver: str, kind: str, tag: str, tensor: object) -> None:
        where = f"message {sender!r} -> {receiver!r} (kind {kind!r}, tag {tag!r})"

        def fail(problem: str) -> None:
            raise MessageError(f"{where} rejected: {problem}; the run is stopped before the message is used")

        if kind not in KINDS:
            fail(f"kind must be one of {', '.join(KINDS)}")
        for role, name in (("sender", sender), ("receiver", receiver), ("tag", tag)):
            if not isinstance(name, str) or not _NAME.match(name):
                fail(f"{role} must be a short name of letters, digits, '_', '.' or '-'")
        if sender == receiver:
            fail("sender and receiver are the same")
        if not isinstance(tensor, torch.Tensor):
            fail(f"payload is a {type(tensor).__name__}, not a tensor")
        assert isinstance(tensor, torch.Tensor)
        if tensor.ndim not in (1, 2) or (tensor.ndim == 2 and tensor.shape[1] == 0):
            fail(f"payload has shape {tuple(tensor.shape)}; expected a vector or a (rows, width) matrix")
        if tensor.dtype == torch.bool or tensor.is_complex():
            fail(f"payload dtype {tensor.dtype} is not allowed")
        if kind != "control" and not tensor.is_floating_point():
            fail(f"{kind} must be floating point, got {tensor.dtype}")
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor.detach()).all()):
            bad = int((~torch.isfinite(tensor.detach())).sum())
            fail(f"payload holds {bad} NaN/inf value(s) of {tensor.numel()}")
        key = (tag, frozenset((sender, receiver)))
        shape = tuple(tensor.shape)
        if kind == "features":
            self._feature_shapes[key] = shape
        elif kind == "feature_grad" and key in self._feature_shapes and self._feature_shapes[key] != shape:
            fail(f"gradient shape {shape} differs from the features' shape {self._feature_shapes[key]}")
