"""What every VFL model offers the trainer, the store and the evaluator."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from privgen.data.tabular import Span
from privgen.privacy.config import NO_DP, DPConfig
from privgen.vfl.config import GanConfig
from privgen.vfl.nets import NetSizes
from privgen.vfl.transport import InProcessTransport


class VflModel:
    """Subclasses implement one critic step and one generator step as message exchanges."""

    name = "base"

    def __init__(self, parts: list[torch.Tensor], spans: list[list[Span]], sizes: NetSizes, cfg: GanConfig,
                 transport: InProcessTransport | None = None, dp: DPConfig = NO_DP) -> None:
        self.sizes, self.cfg, self.dp = sizes, cfg, dp
        self.dims = [p.shape[1] for p in parts]
        self.transport = transport or InProcessTransport()
        self.device = parts[0].device

    def critic_step(self, idx: torch.Tensor, z_seed: int, alpha: torch.Tensor) -> dict[str, float]:
        raise NotImplementedError

    def generator_step(self, z_seed: int, batch_size: int) -> None:
        raise NotImplementedError

    def sample_batch(self, z_seed: int, n: int) -> list[torch.Tensor]:
        raise NotImplementedError

    def modules(self) -> dict[str, nn.Module]:
        raise NotImplementedError

    def health(self) -> dict[str, float]:
        """Gradient norms of the critics at the last critic step's interpolates (a training-health signal).

        Computed in-process for monitoring only: it reads no new data, draws no random numbers and leaves
        every weight and gradient as it was, so logging it cannot change a run.
        """
        return {}

    def rng_streams(self) -> dict[str, torch.Generator]:
        """Seeded per-owner RNG streams (`--rng party`), saved in checkpoints so a run resumes bit for bit.
        DP randomness is not among them: it comes from the OS CSPRNG and has no state to save."""
        return {}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Every optimiser by a stable name (checkpoints save and restore their state)."""
        raise NotImplementedError

    def latent(self, seed: int, n: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(int(seed))
        return torch.randn(n, self.sizes.z_dim, generator=g).to(self.device)

    def sample(self, n: int, seed: int, chunk: int = 1024) -> list[np.ndarray]:
        """n synthetic rows, one array per party; every party uses the same latents (publication step)."""
        rng = np.random.default_rng(seed)
        outs: list[list[np.ndarray]] = [[] for _ in self.dims]
        for start in range(0, n, chunk):
            parts = self.sample_batch(int(rng.integers(2**31 - 1)), min(chunk, n - start))
            for k, p in enumerate(parts):
                outs[k].append(p.cpu().numpy())
        return [np.concatenate(o) for o in outs]
