"""Training loop for the evaluation classifier (the maths is plain cross-entropy; this is the loop)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from privgen.data import ImageDataset
from privgen.eval.classifier import ClassifierConfig, EvalCNN, predict
from privgen.progress import progress
from privgen.seeding import seed_everything


@dataclass(frozen=True)
class ClassifierRecipe:
    epochs: int = 12
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 1e-4
    max_shift: float = 0.1  # random translation, as a fraction of the image size


def random_shift(x: torch.Tensor, max_shift: float, gen: torch.Generator) -> torch.Tensor:
    """Translate each image by up to max_shift * size pixels (zero-padded with the background value -1)."""
    n, _, h, w = x.shape
    s = int(round(max_shift * h))
    if s == 0:
        return x
    padded = F.pad(x, (s, s, s, s), value=-1.0)
    dx = torch.randint(0, 2 * s + 1, (n,), generator=gen)
    dy = torch.randint(0, 2 * s + 1, (n,), generator=gen)
    rows = (dy[:, None] + torch.arange(h)[None]).view(n, 1, h, 1).expand(n, x.shape[1], h, w + 2 * s)
    cropped = padded.gather(2, rows)
    cols = (dx[:, None] + torch.arange(w)[None]).view(n, 1, 1, w).expand(n, x.shape[1], h, w)
    return cropped.gather(3, cols)


def train_classifier(train: ImageDataset, test: ImageDataset, seed: int, recipe: ClassifierRecipe = ClassifierRecipe(),
                     device: torch.device | str = "cpu", quiet: bool = False,
                     on_step: Callable[[int, dict[str, float]], None] | None = None) -> tuple[EvalCNN, dict]:
    """Cross-entropy with random shifts and one-cycle lr; `on_step(step, {"loss", "lr"})` sees every step."""
    gen = seed_everything(seed)
    cfg = ClassifierConfig(in_channels=train.shape[0], image_size=train.shape[1], num_classes=train.num_classes)
    model = EvalCNN(cfg).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    x, y = train.tensors()
    steps_per_epoch = max(1, int(np.ceil(len(x) / recipe.batch_size)))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=recipe.lr, total_steps=recipe.epochs * steps_per_epoch)
    start = time.perf_counter()
    bar = progress(total=recipe.epochs * steps_per_epoch, desc="classifier", quiet=quiet)
    step = 0
    for _ in range(recipe.epochs):
        model.train()
        order = torch.randperm(len(x), generator=gen)
        for i in range(steps_per_epoch):
            idx = order[i * recipe.batch_size:(i + 1) * recipe.batch_size]
            xb = random_shift(x[idx], recipe.max_shift, gen).to(device)
            loss = F.cross_entropy(model(xb), y[idx].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            lr = opt.param_groups[0]["lr"]
            opt.step()
            sched.step()
            step += 1
            if on_step is not None:
                on_step(step, {"loss": float(loss.detach()), "lr": lr})
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
    bar.close()
    seconds = time.perf_counter() - start
    acc = float((predict(model, test.x) == test.y).mean())
    metrics = {"test_accuracy": acc, "train_seconds": round(seconds, 2), "n_train": len(train), "n_test": len(test),
               "final_loss": float(loss.item())}
    return model, metrics
