"""Registry of CLI groups: an area adds its typer app here and the CLI mounts it (no edits to cli.py)."""

from __future__ import annotations

from typing import Callable

import typer

from privgen.commands.attack import app as attack_app
from privgen.commands.audit import app as audit_app
from privgen.commands.bench import app as bench_app
from privgen.commands.bench_audit import audit as bench_audit
from privgen.commands.bench_vfl import vfl as bench_vfl
from privgen.commands.checkpoints import app as checkpoints_app
from privgen.commands.classifier import app as classifier_app
from privgen.commands.data import app as data_app
from privgen.commands.demo import demo
from privgen.commands.diffusion import app as diffusion_app
from privgen.commands.dp import app as dp_app
from privgen.commands.eval import app as eval_app
from privgen.commands.eval_synthetic import synthetic
from privgen.commands.unlearn import app as unlearn_app
from privgen.commands.vfl import app as vfl_app

COMMAND_GROUPS: dict[str, typer.Typer] = {
    "data": data_app,
    "classifier": classifier_app,
    "diffusion": diffusion_app,
    "unlearn": unlearn_app,
    "attack": attack_app,
    "eval": eval_app,
    "vfl": vfl_app,
    "bench": bench_app,
    "audit": audit_app,
    "dp": dp_app,
    "checkpoints": checkpoints_app,
}
TOP_LEVEL: list[Callable] = [demo]
# Single commands that join a group owned by another area ("eval", "bench"): the CLI attaches each
# function to the group of that name, creating the group when no area has registered it yet.
EXTRA_COMMANDS: dict[str, list[Callable]] = {"eval": [synthetic], "bench": [bench_vfl, bench_audit]}
