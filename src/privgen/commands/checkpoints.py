"""`privgen checkpoints ...`: the models that ship inside privgen, how each was made, and their hashes."""

from __future__ import annotations

from pathlib import Path

import typer

from privgen.commands.options import Quiet

app = typer.Typer(help="Shipped checkpoints: list, verify, make them again, build the manifest.", no_args_is_help=True)


@app.command("list")
def list_checkpoints() -> None:
    """Every shipped checkpoint: size, seed, version and the exact command that made it."""
    from privgen.checkpoints import manifest

    entries = manifest()
    for e in entries.values():  # plain lines: a command must stay copyable, never folded by a table
        print(f"{e['name']} ({e['kind']}, {e['bytes'] / 1e6:.1f} MB, seed {e['seed']}, privgen {e['privgen_version']}): "
              f"{e['summary']}\n    {e['command']}")
    print(f"total: {sum(e['bytes'] for e in entries.values()) / 1e6:.1f} MB")


@app.command("verify")
def verify_all() -> None:
    """Check every shipped file against the SHA-256 in the manifest (one error line for the first mismatch)."""
    from privgen.checkpoints import manifest, verify

    for name, e in manifest().items():
        verify(name)
        print(f"{name}: {len(e['files'])} files match the manifest")


@app.command("make")
def make(out: Path = typer.Option(..., "--out", help="Folder to train every shipped checkpoint in (one sub-folder "
                                  "each, named after it); finished ones there are kept."),
         quiet: bool = Quiet) -> None:
    """Train every shipped checkpoint from scratch with the command the manifest lists, one after another (2,800 s of one-thread training when the shipped ones were made)."""
    from privgen.checkpoints.build import make_all

    for path in make_all(out, quiet):
        print(path)


@app.command("build")
def build(source: Path = typer.Option(..., "--from", help="Folder made by `privgen checkpoints make`."),
          dest: Path = typer.Option(None, "--dest", help="Package folder to write files/ and manifest.json into "
                                    "(default: this installation's privgen/checkpoints).")) -> None:
    """Maintainers: copy the made checkpoints into the package and write manifest.json (commands, hashes)."""
    from privgen.checkpoints import HERE
    from privgen.checkpoints.build import build_manifest, default_environment

    m = build_manifest(source, default_environment(), dest or HERE)
    print(f"{len(m['checkpoints'])} checkpoints, {m['total_bytes'] / 1e6:.1f} MB, manifest: {(dest or HERE) / 'manifest.json'}")
