"""The Ray transport: every party a Ray actor (`PartyWorker`), the server (top critic, schedule) in the
driver. The messages, their order and their validation are those of the in-process transport; what
changes is that parties compute concurrently (every party's call is dispatched before any is awaited)
and that a party's data never leaves its process.

The driver counts and validates every message it sends or receives through the same
`InProcessTransport` bookkeeping (`send` on the driver side: validate on receipt, copy, count bytes), so
`metrics.json` reports the same byte counts for both transports; each party validates what it receives.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

import torch

from privgen import ray_cluster
from privgen.errors import UserError
from privgen.vfl.config import GanConfig
from privgen.vfl.models.base import VflModel
from privgen.vfl.models.vflgan import FEATURE_TAGS
from privgen.vfl.nets import NetSizes
from privgen.vfl.rng import own_rng, stream
from privgen.vfl.server import Server
from privgen.vfl.transport import InProcessTransport

PLACEMENT_TIMEOUT_S = 180.0  # actor start-up (a process importing torch) on a loaded machine is slow


class PartyLost(UserError):
    """A party's process died (or its node left) mid-run; names the party and what it was doing."""

    def __init__(self, party: str, during: str, detail: str) -> None:
        super().__init__(f"{party} died during {during} ({detail})")
        self.party, self.during = party, during


def require_ray() -> Any:
    return ray_cluster.require_ray("--transport ray")


def connect(address: str | None, n_parties: int) -> bool:
    """Join the cluster at `address`, or start a local one with one logical CPU per party and one for the
    driver, whatever the core count; True if this call started it."""
    return ray_cluster.connect(address, max(os.cpu_count() or 1, n_parties + 1), "--transport ray")


def check_resources(resources: Sequence[str]) -> None:
    """Fail fast when a --party-resource is advertised by no node (Ray would wait for it forever)."""
    ray = require_ray()
    have = ray.cluster_resources()
    missing = [r for r in resources if have.get(r, 0) < 1]
    if missing:
        custom = sorted(k for k in have if k not in ("CPU", "GPU", "memory", "object_store_memory")
                        and not k.startswith("node:") and not k.startswith("accelerator_type"))
        raise UserError(f"--party-resource {', '.join(missing)}: no node of the Ray cluster advertises it "
                        f"(custom resources: {', '.join(custom) or 'none'}); start each party's node with "
                        "`ray start --address HEAD:PORT --resources '{\"NAME\": 1}'`")


def start_workers(spec: dict[str, Any], out: str, seed: int, n_parties: int, resources: Sequence[str] = (),
                  worker_cls: type | None = None, timeout_s: float = PLACEMENT_TIMEOUT_S) -> list[Any]:
    """One actor per party (pinned by its resource, if given), each up and answering within `timeout_s`."""
    ray = require_ray()
    from privgen.vfl.remote import PartyWorker

    cls = ray.remote(worker_cls or PartyWorker)
    workers = []
    for k in range(n_parties):
        opts: dict[str, Any] = {"num_cpus": 1, "max_restarts": 0}
        if resources:
            opts["resources"] = {resources[k]: 1}
        workers.append(cls.options(**opts).remote(k, spec, out, seed))
    refs = [w.where.remote() for w in workers]
    ready, pending = ray.wait(refs, num_returns=len(refs), timeout=timeout_s)
    if pending:
        late = [f"party{k + 1}" for k, r in enumerate(refs) if r in pending]
        for w in workers:
            ray.kill(w)
        raise UserError(f"{', '.join(late)} could not be started within {timeout_s:.0f} s: no node has a free CPU"
                        + (" and the party's resource" if resources else "") + "; check `ray status`")
    gather([f"party{k + 1}" for k in range(n_parties)], refs, "start-up")
    return workers


def gather(names: Sequence[str], refs: Sequence[Any], during: str) -> list[Any]:
    """Await every party's result; a dead party or a party's error is raised naming the party."""
    ray = require_ray()
    out = []
    for name, ref in zip(names, refs):
        try:
            out.append(ray.get(ref))
        except ray.exceptions.RayTaskError as e:
            cause = e.cause
            if isinstance(cause, UserError):
                raise type(cause)(f"{name}: {cause}") if type(cause) is UserError else cause from None
            raise
        except ray.exceptions.RayActorError as e:
            raise PartyLost(name, during, str(e).splitlines()[0][:200]) from None
    return out


class RayVFLGAN(VflModel):
    """VFLGAN with the parties remote. The server and the schedule are here; `modules()` and
    `optimizers()` are the server's only (each party checkpoints its own state where it lives)."""

    name = "vflgan"

    def __init__(self, workers: list[Any], dims: list[int], sizes: NetSizes, cfg: GanConfig, seed: int,
                 transport: InProcessTransport | None = None) -> None:
        super().__init__([torch.zeros(1, d) for d in dims], [], sizes, cfg, transport)
        self.workers = workers
        self.names = [f"party{k + 1}" for k in range(len(dims))]
        with own_rng(stream(seed, "server")):
            self.server = Server([sizes.feature_dim] * len(dims), sizes, cfg, self.device)
        self.fault: tuple[str, int] | None = None  # tests: (party, iteration) whose process is killed
        self._acks: tuple[str, list[Any]] | None = None
        self.gather(lambda w: w.build.remote(sizes.to_json(), cfg.to_json()), "build")

    def iteration(self) -> int:
        """The generator iteration (1-based) the current transport step belongs to."""
        return (self.transport.step + self.cfg.n_critic) // (self.cfg.n_critic + 1)

    def gather(self, call, during: str) -> list[Any]:
        refs = [call(w) for w in self.workers]
        self.settle()
        return gather(self.names, refs, during)

    def critic_step(self, idx: torch.Tensor, z_seed: int, alpha: torch.Tensor) -> dict[str, float]:
        t = self.transport
        refs = []
        for w, name in zip(self.workers, self.names):  # dispatch all, then wait: parties run concurrently
            rows = t.send("server", name, "control", "rows", idx)
            seed = t.send("server", name, "control", "z_seed", torch.tensor([z_seed]))
            a = t.send("server", name, "control", "alpha", alpha)
            refs.append(w.critic_forward.remote(rows, seed, a))
        self.settle()
        received = gather(self.names, refs, f"a critic step of iteration {self.iteration()}")
        sent = [[t.send(name, "server", "features", tag, f) for tag, f in zip(FEATURE_TAGS, feats)]
                for name, feats in zip(self.names, received)]
        grads, gap = self.server.critic_update(*[[s[i] for s in sent] for i in range(3)])
        self.send_each("critic_backward", [[t.send("server", n, "feature_grad", tag, x) for tag, x in zip(FEATURE_TAGS, g)]
                                             for n, g in zip(self.names, grads)], f"a critic step of iteration {self.iteration()}")
        return {"wasserstein": gap}

    def send_each(self, method: str, args: list[Any], during: str) -> None:
        """Deliver one message to every party without waiting: an actor runs its tasks in the order they
        were sent, so the next request queues behind this one. The acknowledgements are awaited (and a
        failure named) at the next `gather`, which saves a round trip per step."""
        self._acks = (during, [getattr(w, method).remote(a) for w, a in zip(self.workers, args)])

    def settle(self) -> None:
        """Await the outstanding acknowledgements (before a checkpoint, a sample, the end of a run)."""
        if self._acks is not None:
            during, refs = self._acks
            self._acks = None
            gather(self.names, refs, during)

    def generator_step(self, z_seed: int, batch_size: int) -> None:
        t = self.transport
        if self.fault and self.iteration() >= self.fault[1]:
            require_ray().kill(self.workers[self.names.index(self.fault[0])])  # a crash, not a shutdown
            self.fault = None
        refs = [w.generator_forward.remote(t.send("server", n, "control", "z_seed", torch.tensor([z_seed])), batch_size)
                for w, n in zip(self.workers, self.names)]
        self.settle()
        received = gather(self.names, refs, f"the generator step of iteration {self.iteration()}")
        sent = [t.send(n, "server", "features", "gen_fake", f) for n, f in zip(self.names, received)]
        grads = self.server.generator_grads(sent)
        self.send_each("generator_backward", [t.send("server", n, "feature_grad", "gen_fake", g)
                                                for n, g in zip(self.names, grads)], f"the generator step of iteration {self.iteration()}")

    def sample_batch(self, z_seed: int, n: int) -> list[torch.Tensor]:
        return self.gather(lambda w: w.sample.remote(z_seed, n), "sampling")

    def modules(self) -> dict[str, torch.nn.Module]:
        return self.server.modules()

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return self.server.optimizers()

