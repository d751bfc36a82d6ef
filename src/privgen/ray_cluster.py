"""Joining or starting a Ray cluster, shared by the VFL parties (`--transport ray`) and the benchmark's
Ray executor (`--executor ray`): both import Ray lazily (it is the optional extra `privgen[ray]`)."""

from __future__ import annotations

from typing import Any

from privgen.errors import UserError


def require_ray(need: str) -> Any:
    """The ray module; `need` names what asked for it ("--transport ray") in the one-line error without it."""
    try:
        import ray
    except ImportError:
        raise UserError(f"{need} needs Ray: pip install 'privgen[ray]' (Ray and openmined-psi)") from None
    return ray


def connect(address: str | None, num_cpus: int, need: str, env_vars: dict[str, str] | None = None) -> bool:
    """Join the cluster at `address` ("auto", HOST:PORT; its workers get `env_vars`, since they did not
    inherit this shell's environment), or start a fresh local instance with `num_cpus` logical CPUs (never
    a cluster left running on this machine). True if this call started or joined it."""
    ray = require_ray(need)
    if ray.is_initialized():
        return False
    kw: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": "ERROR"}
    try:
        if address:
            ray.init(address=address, **({"runtime_env": {"env_vars": env_vars}} if env_vars else {}), **kw)
        else:
            ray.init(address="local", num_cpus=num_cpus, **kw)
    except ConnectionError as e:
        raise UserError(f"--address {address}: cannot join a Ray cluster ({e}); start one with `ray start --head`") from None
    return True
