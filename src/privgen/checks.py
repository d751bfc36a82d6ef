"""Validation of user options in one place, so every command refuses the same bad values the same way.

Each helper raises `UserError` naming the option and what would be accepted. Comparisons such as
``lr <= 0`` let NaN through (every comparison with NaN is false), so numbers are checked with
`math.isfinite` first.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

from privgen.errors import UserError

# Largest square image any command accepts: beyond this, a dataset of a few thousand images no longer fits
# in memory (5,000 x 512 x 512 float32 is 5 GB) and the small UNets make no sense.
MAX_IMAGE_SIZE = 512
# DDPM training timesteps of every privgen model (diffusers' default): DDIM can take at most this many steps.
TRAIN_TIMESTEPS = 1000


def _number(name: str, value: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise UserError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise UserError(f"{name} must be a finite number, got {value}")
    return v


def finite(name: str, value: float) -> float:
    return _number(name, value)


def finite_positive(name: str, value: float) -> float:
    """A learning rate, a scale: finite and > 0."""
    v = _number(name, value)
    if v <= 0:
        raise UserError(f"{name} must be positive, got {value}")
    return v


def finite_nonnegative(name: str, value: float) -> float:
    """A penalty weight, a guidance scale: finite and >= 0."""
    v = _number(name, value)
    if v < 0:
        raise UserError(f"{name} must be >= 0, got {value}")
    return v


def positive_int(name: str, value: int, minimum: int = 1) -> int:
    """Steps, iterations, rows, batch sizes: whole numbers of at least `minimum`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserError(f"{name} must be a whole number, got {value!r}")
    if value < minimum:
        need = "positive" if minimum == 1 else f"at least {minimum}"
        raise UserError(f"{name} must be {need}, got {value}")
    return value


def optional_positive_int(name: str, value: int | None, minimum: int = 1) -> int | None:
    return None if value is None else positive_int(name, value, minimum)


def image_size(value: int | None, divisor: int = 1, name: str = "--image-size") -> int | None:
    """A square image side: positive, at most MAX_IMAGE_SIZE, and a multiple of what the network halves by."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise UserError(f"{name} must be a positive integer, got {value}; try 16 or 28")
    if value > MAX_IMAGE_SIZE:
        raise UserError(f"{name} {value} is larger than {MAX_IMAGE_SIZE}; use a size up to {MAX_IMAGE_SIZE} (e.g. 16 or 28)")
    if value < divisor or value % divisor:
        raise UserError(f"{name} {value} does not fit the network, which halves the image "
                        f"{divisor.bit_length() - 1} times: use a multiple of {divisor} "
                        f"(e.g. {', '.join(str(divisor * k) for k in _nice_multiples(divisor))})")
    return value


def _nice_multiples(divisor: int) -> Sequence[int]:
    return [k for k in range(1, 65) if divisor * k in (8, 12, 16, 20, 24, 28, 32, 64)][:4] or [1, 2, 4]


def ddim_steps(name: str, value: int) -> int:
    """DDIM sampling steps: at least 1, at most the training timesteps."""
    positive_int(name, value)
    if value > TRAIN_TIMESTEPS:
        raise UserError(f"{name} {value} exceeds the {TRAIN_TIMESTEPS} timesteps the model was trained with; "
                        f"use 1..{TRAIN_TIMESTEPS} (e.g. 50)")
    return value


def resolve_device(name: str = "auto") -> torch.device:
    """The one device resolver: `auto` picks CUDA when present; anything unusable is a user error."""
    if isinstance(name, torch.device):
        return name
    name = str(name).strip()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        index = name.partition(":")[2]
        if index and not index.isdigit():
            raise UserError(f"--device {name}: the CUDA index must be a number, e.g. cuda:0")
        if not torch.cuda.is_available():
            raise UserError(f"--device {name} asked for, but torch sees no CUDA device; use --device cpu or auto")
        if index and int(index) >= torch.cuda.device_count():
            raise UserError(f"--device {name}: torch sees only {torch.cuda.device_count()} CUDA device(s)")
        return torch.device(name)
    raise UserError(f"unknown device {name!r}; use auto, cpu or cuda[:N]")
