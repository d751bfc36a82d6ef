"""Networks: MLP generators with span-aware outputs, bottom critics, heads. Sizes come from `NetSizes`.

Reference sizes are the VFLGAN authors' MNIST ones; `NetSizes.scaled` shrinks them for a CPU budget, the
same way for every model so comparisons stay fair.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from privgen.data.tabular import Span


@dataclass(frozen=True)
class NetSizes:
    z_dim: int = 100
    gen_hidden: tuple[int, ...] = (128, 256, 512, 1024)
    critic_hidden: tuple[int, ...] = (512, 256)
    server_hidden: int = 256
    tau: float = 0.2  # Gumbel-softmax temperature for categorical spans

    @property
    def feature_dim(self) -> int:
        return self.critic_hidden[-1]

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "NetSizes":
        return cls(d["z_dim"], tuple(d["gen_hidden"]), tuple(d["critic_hidden"]), d["server_hidden"], d["tau"])


def gen_backbone(z_dim: int, hidden: tuple[int, ...]) -> nn.Sequential:
    layers: list[nn.Module] = []
    d = z_dim
    for h in hidden:
        layers += [nn.Linear(d, h), nn.BatchNorm1d(h), nn.LeakyReLU(0.2)]
        d = h
    return nn.Sequential(*layers)


class SpanOutput(nn.Module):
    """tanh for pixels, identity for standardised numbers, straight-through Gumbel-softmax per categorical."""

    def __init__(self, spans: list[Span], tau: float) -> None:
        super().__init__()
        self.spans = spans
        self.tau = tau

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        out = []
        for s in self.spans:
            block = logits[:, s.start:s.end]
            if s.kind == "tanh":
                out.append(torch.tanh(block))
            elif s.kind == "numeric":
                out.append(block)
            else:
                out.append(F.gumbel_softmax(block, tau=self.tau, hard=True))
        return torch.cat(out, dim=1)


class Generator(nn.Module):
    """z -> backbone -> one linear output layer with span activations."""

    def __init__(self, sizes: NetSizes, spans: list[Span]) -> None:
        super().__init__()
        self.backbone = gen_backbone(sizes.z_dim, sizes.gen_hidden)
        self.head = OutputHead(sizes.gen_hidden[-1], spans, sizes.tau)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(z))


class OutputHead(nn.Module):
    """Hidden layer -> a party's columns (VertiGAN's per-party head, and the last layer of every G)."""

    def __init__(self, hidden: int, spans: list[Span], tau: float) -> None:
        super().__init__()
        self.linear = nn.Linear(hidden, spans[-1].end)
        self.act = SpanOutput(spans, tau)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.act(self.linear(h))


def bottom_critic(in_dim: int, hidden: tuple[int, ...], first_bias: bool = True) -> nn.Sequential:
    """Columns -> m_k features (D_Ck). No normalisation: it would break the per-row gradient penalty.

    `first_bias=False` is DP-VFLGAN's first layer (the one it privatises has no bias)."""
    layers: list[nn.Module] = []
    d = in_dim
    for i, h in enumerate(hidden):
        layers += [nn.Linear(d, h, bias=first_bias or i > 0), nn.LeakyReLU(0.2)]
        d = h
    return nn.Sequential(*layers)


def score_head(in_dim: int, hidden: int | None = None) -> nn.Sequential:
    """Features -> scalar score (D_pk with no hidden layer, D_S with one)."""
    if hidden is None:
        return nn.Sequential(nn.Linear(in_dim, 1))
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1))


def adam(params, lr: float) -> torch.optim.Adam:
    return torch.optim.Adam(params, lr=lr, betas=(0.5, 0.999))


# Named size presets: the authors' reference, and two CPU-budget scalings used by the bench and the tests.
SIZE_PRESETS: dict[str, NetSizes] = {
    "reference": NetSizes(),
    "small": NetSizes(z_dim=64, gen_hidden=(128, 256, 512), critic_hidden=(256, 128), server_hidden=128),
    "tiny": NetSizes(z_dim=16, gen_hidden=(32, 64), critic_hidden=(32, 16), server_hidden=16),
}
