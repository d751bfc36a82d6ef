"""Classifier run directories: train-and-save, load (validated), and a cache keyed by data and size."""

from __future__ import annotations

from pathlib import Path

import torch

from privgen.data import load_images, train_test_split
from privgen.data.reference import DataRef, resolve_data
from privgen.errors import UserError
from privgen.eval.classifier import ClassifierConfig, EvalCNN
from privgen.eval.train_classifier import ClassifierRecipe, train_classifier
from privgen.report import save_loss_plot, write_run_report
from privgen.runlog import LossLog, log_interval
from privgen.runs import RunDir, load_state_into, save_tensors
from privgen.checks import resolve_device
from privgen.serial import from_dict, to_dict

KIND = "classifier"
WEIGHTS = "classifier.safetensors"


def train_classifier_run(data: str | DataRef, image_size: int, seed: int, out: Path | str, *, split_seed: int = 0,
                         test_fraction: float = 0.2, recipe: ClassifierRecipe = ClassifierRecipe(),
                         device: str = "auto", overwrite: bool = False, quiet: bool = False) -> RunDir:
    """Train the evaluation classifier on the real training split and save it as a run directory; `data` as
    typed (resolved here) or a model's recorded data."""
    dev = resolve_device(device)
    ref = data if isinstance(data, DataRef) else resolve_data(data)
    ds = load_images(ref.source, image_size)
    split = train_test_split(ds, test_fraction, split_seed)
    config = {**ref.config(), "image_size": image_size, "seed": seed, "split_seed": split_seed,
              "test_fraction": test_fraction, "device": str(dev), "recipe": to_dict(recipe),
              "class_names": list(ds.class_names)}
    run = RunDir.create(out, KIND, config, overwrite=overwrite)
    total = recipe.epochs * -(-len(split.train) // recipe.batch_size)
    losses = LossLog(run, log_interval(total))
    model, metrics = train_classifier(split.train, split.test, seed, recipe, dev, quiet,
                                      on_step=lambda step, parts: losses.add(step, {"loss": parts["loss"]}, lr=parts["lr"]))
    losses.flush(total)
    save_tensors(run.file(WEIGHTS), model.state_dict())
    run.write_metrics({**metrics, "model": to_dict(model.cfg)})
    run.log(event="finished", **metrics)
    write_report(run)
    return run


def write_report(run: RunDir) -> Path:
    m, cfg = run.metrics, run.config
    save_loss_plot(run.path, title=f"evaluation classifier ({cfg['data']}, {cfg['image_size']}x{cfg['image_size']})")
    numbers = [["test accuracy", m["test_accuracy"]], ["test images", m["n_test"]], ["training images", m["n_train"]],
               ["epochs", cfg["recipe"]["epochs"]], ["batch size", cfg["recipe"]["batch_size"]],
               ["final loss", m["final_loss"]], ["training seconds", m["train_seconds"]]]
    return write_run_report(run.path, f"Evaluation classifier: {cfg['data']}",
                            "A small CNN trained on the real training split: its labels judge generated images, its "
                            "penultimate layer is the feature space of the Fréchet distance.",
                            numbers, [("Loss", "loss.png")] if run.file("loss.png").is_file() else [])


def load_classifier(path: Path | str, device: str | torch.device = "cpu") -> tuple[EvalCNN, dict]:
    """Load a finished classifier run; returns the model (eval mode) and the run's config."""
    run = RunDir.open(path, KIND)
    model_cfg = run.metrics.get("model")
    if not isinstance(model_cfg, dict):
        raise UserError(f"{path}: metrics.json has no model description; train the classifier again")
    model = EvalCNN(from_dict(ClassifierConfig, model_cfg))
    load_state_into(model, run.file(WEIGHTS))
    return model.to(device).eval(), run.config


def cached_classifier(data: str | DataRef, image_size: int, split_seed: int = 0, seed: int = 0,
                      device: str = "auto", quiet: bool = False,
                      class_names: tuple[str, ...] | list[str] | None = None) -> tuple[EvalCNN, dict, Path]:
    """The evaluation classifier for (data, size, split), trained once and then reused from the cache. User
    data is keyed by its content hash, so edited data never reuses a classifier of the old data; with
    `class_names` (the model's), a classifier of other classes is refused."""
    from privgen.cache import cache_path

    ref = data if isinstance(data, DataRef) else resolve_data(data)
    safe = ref.tag().replace("/", "_").replace(".", "_")
    path = cache_path("classifiers", f"{safe}-s{image_size}-split{split_seed}-seed{seed}")
    if not (path / "metrics.json").exists():
        train_classifier_run(data, image_size, seed, path, split_seed=split_seed, device=device,
                             overwrite=True, quiet=quiet)
    model, cfg = load_classifier(path, resolve_device(device))
    if class_names is not None:
        check_classifier_classes(class_names, cfg, str(path))
    return model, cfg, path


def check_classifier_classes(class_names, clf_cfg: dict, where: str) -> None:
    """A classifier judges label k as the k-th of its own classes: refuse one whose classes are not the model's
    (a classifier config written before class names were recorded is not checked)."""
    from privgen.diffusion.store import check_class_names

    if "class_names" in clf_cfg:
        check_class_names(class_names, clf_cfg["class_names"], f"the classifier {where}")
