"""Classifier run directories: train-and-save, load (validated), and a cache keyed by data and size."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import torch

from privgen.data import load_images, train_test_split
from privgen.errors import UserError
from privgen.eval.classifier import ClassifierConfig, EvalCNN
from privgen.eval.train_classifier import ClassifierRecipe, train_classifier
from privgen.runs import RunDir, load_state_into, save_tensors
from privgen.seeding import resolve_device

KIND = "classifier"
WEIGHTS = "classifier.safetensors"


def train_classifier_run(data: str, image_size: int, seed: int, out: Path | str, split_seed: int = 0,
                         test_fraction: float = 0.2, recipe: ClassifierRecipe = ClassifierRecipe(),
                         device: str = "auto", overwrite: bool = False, quiet: bool = False) -> RunDir:
    """Train the evaluation classifier on the real training split and save it as a run directory."""
    dev = resolve_device(device)
    ds = load_images(data, image_size)
    split = train_test_split(ds, test_fraction, split_seed)
    config = {"data": data, "image_size": image_size, "seed": seed, "split_seed": split_seed,
              "test_fraction": test_fraction, "device": str(dev), "recipe": asdict(recipe),
              "class_names": list(ds.class_names)}
    run = RunDir.create(out, KIND, config, overwrite=overwrite)
    model, metrics = train_classifier(split.train, split.test, seed, recipe, dev, quiet)
    cfg = model.config_dict()
    save_tensors(run.file(WEIGHTS), model.state_dict())
    run.write_metrics({**metrics, "model": cfg})
    run.log(event="finished", **metrics)
    return run


def load_classifier(path: Path | str, device: str | torch.device = "cpu") -> tuple[EvalCNN, dict]:
    """Load a finished classifier run; returns the model (eval mode) and the run's config."""
    run = RunDir.open(path, KIND)
    model_cfg = run.metrics.get("model")
    if not isinstance(model_cfg, dict):
        raise UserError(f"{path}: metrics.json has no model description; train the classifier again")
    model = EvalCNN(ClassifierConfig(**model_cfg))
    load_state_into(model, run.file(WEIGHTS))
    return model.to(device).eval(), run.config


def cached_classifier(data: str, image_size: int, split_seed: int = 0, seed: int = 0,
                      device: str = "auto", quiet: bool = False) -> tuple[EvalCNN, dict, Path]:
    """The evaluation classifier for (data, size, split), trained once and then reused from the cache."""
    from privgen.cache import cache_path

    safe = str(data).replace("/", "_").replace(".", "_")
    path = cache_path("classifiers", f"{safe}-s{image_size}-split{split_seed}-seed{seed}")
    if not (path / "metrics.json").exists():
        train_classifier_run(data, image_size, seed, path, split_seed=split_seed, device=device,
                             overwrite=True, quiet=quiet)
    model, cfg = load_classifier(path, resolve_device(device))
    return model, cfg, path
