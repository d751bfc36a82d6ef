"""The evaluation classifier: a small CNN trained on the real training split.

It judges generated images twice: its label decides forget/class accuracy, and its penultimate layer is
the feature space for the Fréchet distance. It must therefore be accurate (>= 97% on mnist5k).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class ClassifierConfig:
    in_channels: int
    image_size: int
    num_classes: int
    width: int = 32
    feature_dim: int = 128


class EvalCNN(nn.Module):
    """Two conv blocks, global average pooling, a 128-d feature layer and the class head."""

    def __init__(self, cfg: ClassifierConfig) -> None:
        super().__init__()
        self.cfg = cfg
        w = cfg.width

        def block(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
            )

        self.body = nn.Sequential(
            block(cfg.in_channels, w), nn.MaxPool2d(2),
            block(w, 2 * w), nn.MaxPool2d(2) if cfg.image_size >= 16 else nn.Identity(),
            block(2 * w, 4 * w), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.feature = nn.Sequential(nn.Linear(4 * w, cfg.feature_dim), nn.ReLU(inplace=True))
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(cfg.feature_dim, cfg.num_classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.feature(self.body(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


@torch.no_grad()
def batched(fn, x: np.ndarray | torch.Tensor, batch_size: int = 512, device: torch.device | str = "cpu") -> np.ndarray:
    """Apply `fn` to `x` in batches (eval mode is the caller's job) and return a NumPy array."""
    xt = torch.as_tensor(np.asarray(x, dtype=np.float32)) if not isinstance(x, torch.Tensor) else x
    outs = [fn(xt[i:i + batch_size].to(device)).float().cpu() for i in range(0, len(xt), batch_size)]
    return torch.cat(outs).numpy() if outs else np.zeros((0,), dtype=np.float32)


def extract_features(model: EvalCNN, x: np.ndarray | torch.Tensor, batch_size: int = 512) -> np.ndarray:
    model.eval()
    device = next(model.parameters()).device
    return batched(model.features, x, batch_size, device)


def predict(model: EvalCNN, x: np.ndarray | torch.Tensor, batch_size: int = 512) -> np.ndarray:
    model.eval()
    device = next(model.parameters()).device
    return batched(model, x, batch_size, device).argmax(axis=1)


def probabilities(model: EvalCNN, x: np.ndarray | torch.Tensor, batch_size: int = 512) -> np.ndarray:
    """Softmax class probabilities (N, classes): the classifier's confidence, not only its label."""
    model.eval()
    device = next(model.parameters()).device
    return batched(lambda t: torch.softmax(model(t), dim=1), x, batch_size, device)


def class_share(model: EvalCNN, x: np.ndarray | torch.Tensor, cls: int) -> float:
    """Share of images the classifier assigns to `cls` (forget accuracy when `cls` is the forgotten class)."""
    if len(x) == 0:
        raise ValueError("class_share needs at least one image")
    return float((predict(model, x) == cls).mean())
