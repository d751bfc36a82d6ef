"""FT: fine-tune on the retained data only, L(D_r).

The weakest baseline: it forgets only through catastrophic forgetting of the unseen class. lr 1e-4
(as in the SalUn/EraseDiff comparisons).
"""

from __future__ import annotations

from dataclasses import dataclass

from privgen.unlearn.base import Method, UnlearnContext
from privgen.unlearn.registry import register


@register
class FT(Method):
    name = "ft"
    summary = "fine-tune on the retained classes only: L(D_r)"

    @dataclass
    class Options:
        pass

    def step(self, ctx: UnlearnContext) -> dict[str, float]:
        loss = ctx.retain_loss()
        loss.backward()
        return {"loss": loss.item()}
