"""UNet construction and the named training recipes.

The model is a plain ``diffusers.UNet2DModel`` with a class embedding of ``num_classes + 1`` rows: the last
row is the null class that classifier-free guidance uses as "no condition".
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from diffusers import UNet2DModel

from privgen.errors import UserError


@dataclass(frozen=True)
class Recipe:
    """Everything that decides a pretrained model besides data and seed (saved in config.json)."""

    name: str
    image_size: int
    channels: tuple[int, ...] = (32, 64, 64)
    layers_per_block: int = 1
    attention: bool = False          # self-attention at the lowest resolution
    batch_size: int = 128
    steps: int = 1500
    lr: float = 2e-3
    warmup_steps: int = 100
    final_lr_fraction: float = 0.05  # cosine decay down to lr * this
    weight_decay: float = 0.0
    ema_decay: float = 0.995
    ema_warmup: bool = True          # decay_t = min(ema_decay, (1 + t) / (10 + t))
    p_uncond: float = 0.2            # condition dropout (null class) during training
    grad_clip: float = 1.0
    checkpoint_every: int = 250
    sample_steps: int = 50           # default DDIM steps for sampling/evaluation
    threads: int = 0                 # unused (threads follow the work in flight: privgen.threads); kept in the cache key

    def to_dict(self) -> dict[str, Any]:
        """`privgen.serial.to_dict` (the one serialisation of options), kept as a method for callers."""
        from privgen.serial import to_dict

        return to_dict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Recipe":
        from privgen.serial import from_dict

        return from_dict(cls, {"channels": (32, 64, 64), **d}, tuples=("channels",))


# Named recipes. `cpu16` is the default for the 2-core reference CPU (docs/diffusion.md has the numbers).
# Measured with cpu16 (seed 0, 2,400 steps, 18.6 min wall on a contended box; `privgen eval generation`,
# 100 images/class, 50 DDIM steps): class accuracy 0.949 (FD 0.91) at guidance 1 and 0.999 (FD 5.85) at
# guidance 3. Threads are chosen from the work in flight (privgen.threads), not by the recipe.
RECIPES: dict[str, Recipe] = {
    "cpu16": Recipe(name="cpu16", image_size=16, steps=2400, threads=1),
    # demo16: a short warm-up (25 steps, not 100) buys more than 100 extra steps (docs/diffusion.md).
    "demo16": Recipe(name="demo16", image_size=16, steps=350, warmup_steps=25, checkpoint_every=175, sample_steps=25,
                     threads=1),
    "gpu28": Recipe(name="gpu28", image_size=28, channels=(64, 128, 128), layers_per_block=2, attention=True,
                    batch_size=256, steps=20000, lr=5e-4, warmup_steps=500, ema_decay=0.9999,
                    p_uncond=0.1, checkpoint_every=1000, sample_steps=100),
    # A few seconds on a CPU: for tests only.
    "tiny8": Recipe(name="tiny8", image_size=8, channels=(8, 16), batch_size=16, steps=20, lr=2e-3,
                    warmup_steps=2, ema_decay=0.9, checkpoint_every=5, sample_steps=4, threads=1),
}


def apply_threads(recipe: Recipe, device) -> int:
    """CPU threads from the work in flight (`privgen.threads`): every core for a lone job, one per worker when
    the benchmark runs jobs side by side. `recipe.threads` is no longer consulted (it stays in the recipe's
    dict, which keys cached models); the argument is kept for callers."""
    from privgen.threads import set_job_threads

    return set_job_threads(device)


def get_recipe(name: str, **overrides: Any) -> Recipe:
    if name not in RECIPES:
        raise UserError(f"unknown recipe {name!r}; choose one of {', '.join(RECIPES)}")
    clean = {k: v for k, v in overrides.items() if v is not None}
    return replace(RECIPES[name], **clean)


def _groups(channels: tuple[int, ...]) -> int:
    """GroupNorm groups that divide every channel count (8 when possible)."""
    for g in (8, 4, 2, 1):
        if all(c % g == 0 for c in channels):
            return g
    return 1


def build_unet(recipe: Recipe, in_channels: int, num_classes: int, num_embeds: int | None = None) -> UNet2DModel:
    """A class-conditional UNet; index ``num_classes`` of the class embedding is the null class. An attribute
    model passes its joint table size (`privgen.diffusion.condition.ConditionSpace.num_embeds`)."""
    n = len(recipe.channels)
    down = ["DownBlock2D"] * n
    up = ["UpBlock2D"] * n
    if recipe.attention:
        down[-1] = "AttnDownBlock2D"
        up[0] = "AttnUpBlock2D"
    return UNet2DModel(
        sample_size=recipe.image_size, in_channels=in_channels, out_channels=in_channels,
        block_out_channels=tuple(recipe.channels), layers_per_block=recipe.layers_per_block,
        down_block_types=tuple(down), up_block_types=tuple(up), norm_num_groups=_groups(recipe.channels),
        attention_head_dim=min(recipe.channels[-1], 32), num_class_embeds=num_embeds or num_classes + 1,
    )

