"""One party as a process of its own (a Ray actor): its data, encoder, models, optimisers, RNG stream and
checkpoints live here and nowhere else.

`PartyWorker` is a plain class (Ray wraps it with `ray.remote` in privgen.vfl.ray_transport), so it can be
read and tested without Ray. Every message it receives is validated on receipt (privgen.vfl.messages);
what it returns is features, feature gradients' acknowledgements, or synthetic columns: never a row or an ID.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import numpy as np
import torch

from privgen.errors import UserError
from privgen.data.reference import verify_content
from privgen.runs import atomic_write_json, load_tensors, save_tensors
from privgen.train_state import optimizer_tensors, restore_optimizer, section
from privgen.vfl.config import GanConfig
from privgen.vfl.messages import MessageValidator
from privgen.vfl.models.vflgan import FEATURE_TAGS, party_name
from privgen.vfl.nets import NetSizes
from privgen.vfl.party import Party
from privgen.vfl.party_data import OwnData, embedded_part, file_part, read_own_file
from privgen.vfl.partition import id_columns_for, id_kind
from privgen.vfl.psi import PsiParticipant, id_strings

KEEP_CHECKPOINTS = 2


def party_dir(out: str | Path, name: str) -> Path:
    """Where a party keeps its checkpoints and final weights, on its own machine."""
    return Path(out) / "parties" / name


class PartyWorker:
    def __init__(self, k: int, spec: dict[str, Any], out: str, seed: int) -> None:
        torch.set_num_threads(1)  # one core per party: parties compute side by side, not on each other's cores
        self.k, self.name, self.spec, self.out, self.seed = k, party_name(k), spec, out, seed
        self.validator = MessageValidator()
        self.psi: PsiParticipant | None = None
        self._frame = None
        self._id = ""
        self.data: OwnData | None = None
        self.party: Party | None = None
        self._gen_pending: tuple[torch.Tensor, torch.Tensor] | None = None

    def where(self) -> dict[str, Any]:
        """Which machine (and Ray node, under Ray) this party runs on: recorded in metrics.json."""
        out: dict[str, Any] = {"party": self.name, "host": socket.gethostname(), "pid": os.getpid()}
        try:
            import ray

            if ray.is_initialized():
                out["ray_node"] = ray.get_runtime_context().get_node_id()
        except ImportError:
            pass
        return out

    # ---- data ----
    def open(self) -> dict[str, Any]:
        """Read this party's own data; a party file is checked and readied for private alignment."""
        files = self.spec.get("party_files") or []
        if files:
            path = Path(files[self.k])
            expected = (self.spec.get("party_hashes") or [None] * len(files))[self.k]
            if expected:  # recorded where the driver could read the file (one machine): it must not have changed
                verify_content(path, expected, "the run")
            self._id = id_columns_for(self.spec["id_column"], len(files))[self.k]  # this party's own ID column
            df = read_own_file(path, self._id)
            self.psi = PsiParticipant(id_strings(df[self._id]), path.name)
            self._frame = df
            return {"columns": [str(c) for c in df.columns if c != self._id], "source": path.name,
                    "id_column": self._id, "id_kind": id_kind(df[self._id])}
        self.data = embedded_part(self.spec, self.k)
        return {"columns": self.data.columns, "source": self.spec["data"]}

    def psi_call(self, method: str, *args: Any) -> Any:
        assert self.psi is not None, "open() a party file first"
        return getattr(self.psi, method)(*args)

    def prepare(self) -> dict[str, Any]:
        """After alignment: keep the shared rows in the agreed order, split, fit the encoder, encode."""
        if self.data is None:
            assert self.psi is not None and self._frame is not None
            aligned = self._frame.iloc[self.psi.aligned_positions()].drop(columns=[self._id])
            self.data = file_part(aligned, self.spec, self.psi.name)
            self._frame, self.psi = None, None  # the IDs are not needed any more
        return {"rows": len(self.data.x), "dim": int(self.data.x.shape[1])}

    # ---- models ----
    def build(self, sizes: dict, gan: dict) -> None:
        assert self.data is not None
        self.party = Party(self.name, torch.from_numpy(self.data.x), self.data.spans, NetSizes.from_json(sizes),
                           GanConfig(**gan), rng_seed=self.seed)

    def _receive(self, kind: str, tag: str, tensor: Any) -> torch.Tensor:
        self.validator.check("server", self.name, kind, tag, tensor)
        return tensor

    def _send(self, kind: str, tag: str, tensor: torch.Tensor) -> torch.Tensor:
        out = tensor.detach().clone()
        self.validator.check(self.name, "server", kind, tag, out)  # remembers the shape its gradient must have
        return out

    def critic_forward(self, idx: torch.Tensor, z_seed: torch.Tensor, alpha: torch.Tensor) -> list[torch.Tensor]:
        assert self.party is not None
        idx = self._receive("control", "rows", idx)
        seed = self._receive("control", "z_seed", z_seed)
        a = self._receive("control", "alpha", alpha)
        if idx.dtype != torch.int64 or int(idx.min()) < 0 or int(idx.max()) >= len(self.party.x):
            raise UserError(f"message 'server' -> {self.name!r} (kind 'control', tag 'rows') rejected: row indices "
                            f"must be int64 in [0, {len(self.party.x)})")
        feats = self.party.critic_forward(idx, self.party.latent(int(seed), len(idx)), a)
        return [self._send("features", tag, f) for tag, f in zip(FEATURE_TAGS, feats)]

    def critic_backward(self, grads: list[torch.Tensor]) -> None:
        assert self.party is not None
        self.party.critic_backward([self._receive("feature_grad", tag, g) for tag, g in zip(FEATURE_TAGS, grads)])

    def generator_forward(self, z_seed: torch.Tensor, n: int) -> torch.Tensor:
        assert self.party is not None
        seed = self._receive("control", "z_seed", z_seed)
        loss, feats = self.party.generator_forward(self.party.latent(int(seed), n))
        self._gen_pending = (loss, feats)
        return self._send("features", "gen_fake", feats)

    def generator_backward(self, grad: torch.Tensor) -> None:
        assert self.party is not None and self._gen_pending is not None
        loss, feats = self._gen_pending
        g = self._receive("feature_grad", "gen_fake", grad)
        self.party.generator_backward([loss, feats], [torch.ones_like(loss), g])
        self._gen_pending = None

    def sample(self, z_seed: int, n: int) -> torch.Tensor:
        """Synthetic columns of this party for the shared latent seed (publication: joined by position)."""
        assert self.party is not None
        return self.party.sample(self.party.latent(z_seed, n), z_seed)

    # ---- state, where the party lives ----
    def _tensors(self) -> dict[str, torch.Tensor]:
        assert self.party is not None and self.party.rng is not None
        t: dict[str, torch.Tensor] = {}
        for name, module in self.party.modules().items():
            t.update({f"module.{name}.{k}": v for k, v in module.state_dict().items()})
        for name, opt in self.party.optimizers().items():
            t.update({f"optim.{name}.{k}": v for k, v in optimizer_tensors(opt).items()})
        t["state.rng"] = self.party.rng.get_state()
        return t

    def save_checkpoint(self, iteration: int) -> None:
        d = party_dir(self.out, self.name)
        d.mkdir(parents=True, exist_ok=True)
        save_tensors(d / f"checkpoint-{iteration:09d}.safetensors",
                     {**self._tensors(), "state.iteration": torch.tensor([iteration], dtype=torch.int64)},
                     metadata={"format": "privgen-vfl-party-checkpoint", "party": self.name})
        for old in sorted(d.glob("checkpoint-*.safetensors"))[:-KEEP_CHECKPOINTS]:
            old.unlink()

    def load_checkpoint(self, iteration: int) -> None:
        """Restore this party's state at the server's checkpoint iteration (its own file, on its own machine)."""
        assert self.party is not None and self.party.rng is not None
        path = party_dir(self.out, self.name) / f"checkpoint-{iteration:09d}.safetensors"
        if not path.is_file():
            raise UserError(f"{self.name} has no checkpoint of iteration {iteration} at {path} on {socket.gethostname()}; "
                            "the server's checkpoint cannot be resumed without it (pass --overwrite to start again)")
        t = load_tensors(path)
        for name, module in self.party.modules().items():
            module.load_state_dict(section(t, f"module.{name}"))
        for name, opt in self.party.optimizers().items():
            restore_optimizer(opt, section(t, f"optim.{name}"), str(path))
        self.party.rng.set_state(t["state.rng"])

    def save_model(self) -> None:
        """The final weights and this party's piece of the layout (its encoder), kept on its machine."""
        assert self.party is not None and self.data is not None
        d = party_dir(self.out, self.name)
        d.mkdir(parents=True, exist_ok=True)
        for name, module in self.party.modules().items():
            save_tensors(d / f"{name}.safetensors", module.state_dict())
        atomic_write_json(d / "layout.json", self.data.piece)

    def load_model(self, sizes: dict, gan: dict) -> dict[str, Any]:
        """For publication: rebuild this party's generator from its saved weights and layout piece."""
        from privgen.data.tabular import Span, TableEncoder
        from privgen.runs import load_state_into, read_json

        d = party_dir(self.out, self.name)
        piece = read_json(d / "layout.json")
        if piece["kind"] == "table":
            enc = TableEncoder.from_json(piece["encoder"])
            spans, width = enc.spans(), enc.width
        else:
            c, w = piece["shape"][0], piece["shape"][2]
            width = c * (piece["band"][1] - piece["band"][0]) * w
            spans = [Span(0, width, "tanh")]
        self.data = OwnData(np.zeros((1, width), dtype=np.float32), spans, [], piece)
        self.build(sizes, gan)
        assert self.party is not None
        for name, module in self.party.modules().items():
            load_state_into(module, d / f"{name}.safetensors")
        return piece

    def publish(self, z_seed: int, n: int) -> Any:
        """n synthetic rows of this party's columns for the shared latent seed, decoded by its own encoder."""
        return self.decode(self.sample(z_seed, n))

    def decode(self, x: torch.Tensor) -> Any:
        """This party's synthetic columns decoded with its own encoder (a table part, or image rows)."""
        assert self.data is not None
        piece = self.data.piece
        if piece["kind"] == "table":
            from privgen.data.tabular import TableEncoder

            return TableEncoder.from_json(piece["encoder"]).decode(x.numpy())
        c, _, w = piece["shape"]
        r0, r1 = piece["band"]
        return x.numpy().reshape(len(x), c, r1 - r0, w)
