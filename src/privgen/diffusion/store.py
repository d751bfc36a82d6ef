"""Diffusion model directories (run kind ``diffusion``): save and validated load.

Layout of a finished training run ``DIR``:
  config.json                 options, recipe, classes (privgen)
  unet/                       EMA weights as a plain diffusers folder: ``UNet2DModel.from_pretrained(DIR/unet)``
  scheduler/                  the DDIM sampler's config: ``DDIMScheduler.from_pretrained(DIR, subfolder="scheduler")``
  checkpoint.safetensors      raw weights, EMA, optimizer, step and RNG states (for resuming / fine-tuning)
  metrics.json, log.jsonl     written by the trainer; metrics.json marks the run finished
"""

from __future__ import annotations

import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from diffusers import UNet2DModel

from privgen.diffusion.condition import ConditionSpace, attributes_from_config
from privgen.diffusion.model import Recipe, build_unet
from privgen.data.images import Attribute
from privgen.diffusion.schedule import sampling_scheduler
from privgen.data.class_names import class_label, resolve_class
from privgen import checks
from privgen.errors import UserError
from privgen.runs import RunDir, atomic_write_text, load_state_into, read_json, record_checksum

KIND = "diffusion"
UNET_DIR = "unet"
SCHEDULER_DIR = "scheduler"
UNET_WEIGHTS = "diffusion_pytorch_model.safetensors"
CHECKPOINT = "checkpoint.safetensors"


@dataclass
class DiffusionModel:
    """What sampling and fine-tuning need: the UNet (EMA weights) plus the facts about its classes."""

    unet: UNet2DModel
    recipe: Recipe
    num_classes: int
    class_names: tuple[str, ...]
    in_channels: int
    config: dict[str, Any]
    attributes: tuple[Attribute, ...] = ()

    @property
    def conditions(self) -> ConditionSpace:
        return ConditionSpace(self.num_classes, self.attributes)

    @property
    def null_class(self) -> int:
        """The unconditional row: the null class of a class-only model, every component null otherwise."""
        return self.conditions.null

    @property
    def image_size(self) -> int:
        return self.recipe.image_size

    @property
    def device(self) -> torch.device:
        return next(self.unet.parameters()).device

    def class_id(self, cls: int | str, flag: str | None = None) -> int:
        """A class given by index or name; anything else is a user error naming the valid classes. `flag`: the
        CLI option it came from (an index there, on classes named otherwise, warns with the name)."""
        return resolve_class(cls, self.class_names, "the model", flag, source=self.data_name)

    @property
    def data_name(self) -> str:
        """The training data's name: an embedded dataset's, or the last part of a user path."""
        data = str(self.config.get("data", "")).rstrip("/")
        return Path(data).name or "the model"

    def class_label(self, c: int) -> str:
        """`class 3 "nine"` (or `class 3` on data whose names are the indices)."""
        return class_label(c, self.class_names)


def model_split(model: DiffusionModel):
    """The real train/test split the model was trained on: same data, size, test fraction and split seed."""
    from privgen.data import load_images, train_test_split
    from privgen.data.reference import stored_data

    cfg = model.config
    ref = stored_data(cfg)  # the recorded absolute path, checked against its content hash
    ds = load_images(ref.source, model.image_size)
    check_class_names(model.class_names, ds.class_names, f"the data {ref.source}")
    return train_test_split(ds, float(cfg.get("test_fraction", 0.2)), int(cfg.get("split_seed", 0)))


def check_class_names(model_names, other_names, other: str, model: str = "the model") -> None:
    """Refuse to pair a model with data (or a classifier) whose classes differ: label k would mean another
    class on each side, and every number built on it would be silently wrong."""
    a, b = [str(n) for n in model_names], [str(n) for n in other_names]
    if a != b:
        raise UserError(f"{model}'s classes ({', '.join(a)}) differ from those of {other} ({', '.join(b)}); "
                        f"use the data {model} was trained on, or retrain it on this data")


def model_config(recipe: Recipe, num_classes: int, class_names: tuple[str, ...], in_channels: int,
                 attributes: tuple[Attribute, ...] = ()) -> dict[str, Any]:
    """A class-only model's config has no `attributes` key (configs written before attributes stay valid)."""
    space = ConditionSpace(num_classes, attributes)
    cfg = {"recipe": recipe.to_dict(), "num_classes": num_classes, "class_names": list(class_names),
           "in_channels": in_channels, "null_class": space.null}
    if attributes:
        cfg["attributes"] = space.to_config()
    return cfg


def new_model(recipe: Recipe, num_classes: int, class_names: tuple[str, ...], in_channels: int,
              extra: dict[str, Any] | None = None, attributes: tuple[Attribute, ...] = ()) -> DiffusionModel:
    space = ConditionSpace(num_classes, attributes)
    unet = build_unet(recipe, in_channels, num_classes, space.num_embeds)
    cfg = {**model_config(recipe, num_classes, class_names, in_channels, attributes), **(extra or {})}
    return DiffusionModel(unet, recipe, num_classes, tuple(class_names), in_channels, cfg, tuple(attributes))


def model_from_config(cfg: dict[str, Any], where: Path) -> DiffusionModel:
    if not isinstance(cfg, dict) or not isinstance(cfg.get("recipe"), dict):
        named = cfg.get("recipe") if isinstance(cfg, dict) else None
        what = f"names the recipe as {named!r} instead of describing it" if named is not None else "has no recipe"
        raise UserError(f"{where}/config.json {what}; it was not written by privgen diffusion train (train it again)")
    try:
        recipe = Recipe.from_dict(cfg["recipe"])
        if not recipe.channels or not all(isinstance(c, int) and 0 < c <= 4096 for c in recipe.channels):
            raise ValueError(f"recipe channels {list(recipe.channels)} are not positive integers")
        checks.image_size(recipe.image_size, 2 ** (len(recipe.channels) - 1), name="recipe image_size")
        return new_model(recipe, int(cfg["num_classes"]), tuple(cfg["class_names"]), int(cfg["in_channels"]), cfg,
                         attributes_from_config(cfg.get("attributes")))
    except (KeyError, TypeError, ValueError, UserError) as e:
        raise UserError(f"{where}/config.json does not describe a diffusion model ({e}); train it again") from None


def save_unet(unet: UNet2DModel, run: RunDir) -> Path:
    """The EMA UNet as a diffusers folder (safetensors), written beside and renamed into place so a failed
    save never leaves half a model; the weights' SHA-256 goes to unet/checksums.json."""
    path = run.file(UNET_DIR)
    tmp = run.file(f".{UNET_DIR}.{secrets.token_hex(6)}.tmp")
    old = run.file(f".{UNET_DIR}.old")
    try:
        unet.save_pretrained(str(tmp), safe_serialization=True)
        record_checksum(tmp / UNET_WEIGHTS)
        if old.exists():
            shutil.rmtree(old)
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
    except OSError as e:
        raise UserError(f"cannot write {path}: {e.strerror or e}; check the folder's permissions and free space") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    if old.exists():
        shutil.rmtree(old)
    save_scheduler(run)
    return path


def save_scheduler(run: RunDir) -> Path:
    """The DDIM sampler privgen uses, as diffusers' scheduler_config.json beside unet/, so plain diffusers
    samples the model with the same schedule (the number of steps is chosen at sampling time)."""
    path = run.file(SCHEDULER_DIR) / "scheduler_config.json"
    atomic_write_text(path, sampling_scheduler(1).to_json_string())
    return path


def load_model(path: Path | str, device: str | torch.device = "cpu", weights: str = "ema") -> DiffusionModel:
    """Load a finished diffusion run for sampling; every mismatch is a one-line UserError.

    It leaves torch's thread count alone: a library call must not change the process's settings as a side
    effect; commands set it where they start (`privgen.diffusion.model.apply_threads`).

    ``weights="ema"`` (default) loads the diffusers folder; ``"raw"`` the un-averaged training weights from
    the checkpoint (e.g. to compare with EMA, or to fine-tune from them)."""
    run = RunDir.open(path, KIND)
    model = model_from_config(run.config, run.path)
    if weights == "raw":
        from privgen.diffusion.checkpoint import load_module_section

        load_module_section(model.unet, run.file(CHECKPOINT), "model")
        model.unet.to(device).eval().requires_grad_(False)
        return model
    if weights != "ema":
        raise UserError(f"weights must be 'ema' or 'raw', got {weights!r}")
    folder = run.file(UNET_DIR)
    weights = folder / UNET_WEIGHTS
    if not (folder / "config.json").is_file() or not weights.is_file():
        raise UserError(f"{run.path} is incomplete: {UNET_DIR}/config.json or {UNET_DIR}/{UNET_WEIGHTS} is missing; "
                        "train it again (or resume the run)")
    saved = read_json(folder / "config.json")
    expected = dict(model.unet.config)
    diff = [k for k in ("block_out_channels", "num_class_embeds", "sample_size", "in_channels", "layers_per_block",
                        "down_block_types") if k in saved and list(_as_list(saved[k])) != list(_as_list(expected[k]))]
    if diff:
        raise UserError(f"{folder}/config.json disagrees with {run.path}/config.json on {', '.join(diff)}; "
                        "the model directory is corrupted or mixed from two runs")
    load_state_into(model.unet, weights)
    model.unet.to(device).eval().requires_grad_(False)
    return model


def describe_model(path: Path | str, device: str | torch.device = "cpu") -> DiffusionModel:
    """The model's config (recipe, classes, data) with freshly initialised weights; the run may be unfinished."""
    run = RunDir.open(path, KIND, require_finished=False)
    model = model_from_config(run.config, run.path)
    model.unet.to(device)
    return model


def _as_list(v: Any) -> list:
    return list(v) if isinstance(v, (list, tuple)) else [v]
