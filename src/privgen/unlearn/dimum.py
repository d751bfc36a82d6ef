"""DiMUM: unlearning by memorisation. L(x_a, c_f) + λ·L(D_r), x_a from an alternative-data source.

Instead of pushing the model away from D_f, c_f is trained to *mean* other content: both terms are
ordinary, convergent denoising losses, so the result is a minimum of a normal training objective, and
fine-tuning on data without c_f has no gradient that leads back to the forgotten content.
Alternative data (`alt`): `other-class` (real images of `alt_class`), `generated` (θ0's own samples of
`alt_class`), `noise` (uniform noise images). `alt_class` is a class id, `next` ((c_f + 1) mod C) or
`random` (a random retained class per image). λ = 1 (both terms are denoising losses of the same scale, so equal weight).

Feature unlearning (`attr=v` of an attribute model): the alternative is the SAME class rendered with
another value of that attribute, and `alt_class` picks that value: `next` ((v + 1) mod V, the default, by
analogy with classes: one fixed value gives the forgotten condition one mode to mean), `random` (any other
value per image) or a value name. Each alternative image keeps its own class and other attributes and is
labelled with the forgotten value; condition dropout (class and the other attributes) is kept so that
"v in any class" is memorised too, but the forgotten attribute itself is never dropped.

Default `other-class` with one fixed class (`next`), chosen by measurement (docs/unlearning.md): with a
random class per image, c_f means "any other digit", its conditional prediction stays close to the
unconditional one, and guidance amplifies what is left of c_f (600-step demo16, digit 3, 100 steps:
forget accuracy 1.7% at guidance 1 but 13% at guidance 3; under DiMRA on cpu16 it climbs from 14% to 56%);
one fixed class gives c_f a single mode to mean (0% at both, and 0% throughout the attack) and keeps
retained class accuracy; uniform noise also forgets (0%) but costs retained quality (class accuracy 0.83
vs 0.98 at guidance 3).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from privgen.diffusion.condition import NULL
from privgen.errors import UserError
from privgen.unlearn.base import Method, UnlearnContext
from privgen.unlearn.registry import register

ALT_SOURCES = ("other-class", "generated", "noise")


def resolve_alt_class(alt_class: str, forget_class: int, num_classes: int) -> int | None:
    """None means 'a random retained class per image'; `next` is (c_f + 1) mod C; c_f itself is refused."""
    if alt_class == "random":
        return None
    if alt_class == "next":
        return (forget_class + 1) % num_classes
    try:
        c = int(alt_class)
    except ValueError:
        raise UserError(f"--alt-class must be a class id, 'next' or 'random', got {alt_class!r}") from None
    if not 0 <= c < num_classes:
        raise UserError(f"--alt-class {c} is outside the model's classes 0..{num_classes - 1}")
    if c == forget_class:
        raise UserError(f"--alt-class {c} is the forgotten class itself; choose another class, 'next' or 'random'")
    return c


def resolve_alt_value(alt: str, target) -> int | None:
    """The alternative value of an attribute target: None = a random other value per image."""
    attribute = target.space.attributes[target.attribute]
    n = len(attribute.values)
    if n < 2:
        raise UserError(f"attribute {attribute.name} has one value; there is no other value to memorise")
    if alt == "random":
        return None
    if alt == "next":
        return (target.value + 1) % n
    v = attribute.value_id(alt) if alt in attribute.values or alt in ("-1", "+1") else None
    if v is None:
        raise UserError(f"--alt-class for {attribute.name} must be a value ({', '.join(attribute.values)}), 'next' "
                        f"or 'random', got {alt!r}")
    if v == target.value:
        raise UserError(f"--alt-class {alt} is the forgotten value itself; choose another value, 'next' or 'random'")
    return v


def redraw_rows(unet, rows: torch.Tensor, generator: torch.Generator) -> None:
    """Replace embedding rows by fresh draws from the embedding's own initialiser (N(0, 1), as
    `torch.nn.Embedding`), so the forgotten condition's vectors keep nothing of what pretraining put in them.
    Fine-tuning moves embedding vectors little (about lr per step under Adam), so without this DiMUM's
    memorisation lives in the shared weights that map the *pretrained* vectors to the alternative; an attack
    that drifts those weights back lets the old vectors decode to the forgotten content again."""
    emb = unet.class_embedding.weight
    with torch.no_grad():
        emb[rows.to(emb.device)] = torch.randn(len(rows), emb.shape[1], generator=generator).to(emb.device, emb.dtype)


@register
class DiMUM(Method):
    name = "dimum"
    summary = "memorise alternative data under the forgotten condition: L(x_a, c_f) + λ·L(D_r)"

    @dataclass
    class Options:
        alt: str = "other-class"
        alt_class: str = "next"
        lam: float = 1.0
        n_generated: int = 256
        fresh_rows: bool = False   # re-draw the forgotten condition's embedding rows before memorising

    def validate(self, forget_class: int, num_classes: int) -> None:
        if self.opt.alt not in ALT_SOURCES:
            raise UserError(f"--alt must be one of {', '.join(ALT_SOURCES)}, got {self.opt.alt!r}")
        cls = resolve_alt_class(str(self.opt.alt_class), forget_class, num_classes)
        if self.opt.alt == "generated" and cls is None:
            raise UserError("--alt generated samples one class of θ0; give --alt-class ID or next, not random")
        self.alt_class = cls

    def validate_attribute(self, target) -> None:
        if self.opt.alt not in ALT_SOURCES:
            raise UserError(f"--alt must be one of {', '.join(ALT_SOURCES)}, got {self.opt.alt!r}")
        self.alt_value = resolve_alt_value(str(self.opt.alt_class), target)
        if self.opt.alt == "generated" and self.alt_value is None:
            raise UserError("--alt generated samples one value of θ0; give --alt-class VALUE or next, not random")

    def prepare(self, ctx: UnlearnContext) -> None:
        if self.opt.fresh_rows:
            redraw_rows(ctx.unet, ctx.forgotten_rows(), ctx.generator)
        if ctx.target is not None and ctx.target.is_attribute:
            return self._prepare_attribute(ctx)
        self.validate(ctx.forget_class, ctx.num_classes)
        if self.opt.alt == "other-class":
            classes = ctx.retain_y if ctx.conditions is None else ctx.conditions.decode(ctx.retain_y)[0]
            pool = ctx.retain_x if self.alt_class is None else ctx.retain_x[classes == self.alt_class]
            ctx.state["alt_pool"] = pool
        elif self.opt.alt == "generated":
            labels = torch.full((self.opt.n_generated,), self.alt_class, dtype=torch.long)
            ctx.state["alt_pool"] = ctx.state["sample_teacher"](labels).to(ctx.device)

    def _prepare_attribute(self, ctx: UnlearnContext) -> None:
        """Pairs (image of class c with another value, condition (c, forgotten value, same other attributes))."""
        self.validate_attribute(ctx.target)
        space, k, v = ctx.conditions, ctx.target.attribute, ctx.target.value
        if self.opt.alt == "noise":
            return
        if self.opt.alt == "other-class":
            _, attrs = space.decode(ctx.retain_y)
            keep = attrs[k] != NULL if self.alt_value is None else attrs[k] == self.alt_value
            x, y = ctx.retain_x[keep], ctx.retain_y[keep]
        else:
            rows = ctx.kept_rows()
            rows = rows[space.decode(rows)[1][k] == self.alt_value]
            y = rows.repeat_interleave(max(1, self.opt.n_generated // len(rows))).to(ctx.device)
            x = ctx.state["sample_teacher"](y.cpu()).to(ctx.device)
        if len(x) == 0:
            raise UserError(f"no retained image has {ctx.target.attribute_name}="
                            f"{space.attributes[k].values[self.alt_value]}; choose another --alt-class value")
        ctx.state["alt_pool"] = x
        ctx.state["alt_labels"] = space.with_attribute(y, k, v)

    def _attribute_batch(self, ctx: UnlearnContext) -> tuple[torch.Tensor, torch.Tensor]:
        k = ctx.target.attribute
        if self.opt.alt == "noise":
            shape = (ctx.batch_size, *ctx.forget_x.shape[1:])
            x = (torch.rand(shape, generator=ctx.generator) * 2 - 1).to(ctx.device)
            y = ctx.forget_labels(ctx.batch_size)
        else:
            i = ctx.draw(ctx.state["alt_pool"])
            x, y = ctx.state["alt_pool"][i], ctx.state["alt_labels"][i]
        return x, ctx.conditions.drop(y, ctx.p_uncond, ctx.generator, keep=(k + 1,))

    def alternative_batch(self, ctx: UnlearnContext) -> torch.Tensor:
        if self.opt.alt == "noise":
            shape = (ctx.batch_size, *ctx.forget_x.shape[1:])
            return (torch.rand(shape, generator=ctx.generator) * 2 - 1).to(ctx.device)
        pool = ctx.state["alt_pool"]
        return pool[ctx.draw(pool)]

    def step(self, ctx: UnlearnContext) -> dict[str, float]:
        if ctx.target is not None and ctx.target.is_attribute:
            xa, yf = self._attribute_batch(ctx)
        else:
            xa = self.alternative_batch(ctx)
            yf = torch.full((len(xa),), ctx.forget_class, dtype=torch.long, device=ctx.device)
        memorise = ctx.loss(ctx.unet, xa, yf, p_uncond=0.0)
        retain = ctx.retain_loss()
        loss = memorise + self.opt.lam * retain
        loss.backward()
        return {"loss": loss.item(), "memorise_loss": memorise.item(), "retain_loss": retain.item()}
