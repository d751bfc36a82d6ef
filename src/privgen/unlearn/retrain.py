"""Retrain (oracle): train from scratch on D_r only, with the pretraining recipe.

Not a fine-tuning method: it is the control every other method (and every attack) is judged against.
The runner hands it to the diffusion trainer; it has no per-step loss of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from privgen.unlearn.base import Method, UnlearnContext
from privgen.unlearn.registry import register


@register
class Retrain(Method):
    name = "retrain"
    summary = "oracle: train from scratch without the forgotten class (same recipe as pretraining)"
    finetunes = False

    @dataclass
    class Options:
        pass

    def step(self, ctx: UnlearnContext) -> dict[str, float]:
        raise RuntimeError("retrain is run by the diffusion trainer, not by the fine-tuning loop")
