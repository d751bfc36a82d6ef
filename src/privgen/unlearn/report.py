"""What an unlearning run shows: the forgotten condition and two kept ones, before and after, plus report.md."""

from __future__ import annotations

from pathlib import Path

import torch

from privgen.data.class_names import class_label
from privgen.diffusion.condition import NULL
from privgen.diffusion.preview import preview_setting, sample_rows
from privgen.diffusion.store import DiffusionModel
from privgen.report import save_image_grid, save_loss_plot, write_run_report
from privgen.runs import RunDir

GRID = "before_after.png"
GRID_COLUMNS = 8


def grid_classes(forget: int, num_classes: int) -> list[int]:
    """The forgotten class and the two classes after it: the rows of every before/after grid."""
    return [forget] + [(forget + i) % num_classes for i in (1, 2)][: max(num_classes - 1, 0)]


def grid_conditions(target, num_classes: int) -> list[int]:
    """Feature unlearning: the forgotten value asked in three classes, then the next value in the first."""
    space, k = target.space, target.attribute
    classes = torch.tensor(grid_classes(0, num_classes))
    null = torch.full((len(classes), len(space.attributes)), NULL)
    rows = space.with_attribute(space.encode(classes, null), k, target.value)
    kept = space.with_attribute(rows[:1], k, (target.value + 1) % len(space.attributes[k].values))
    return [int(r) for r in torch.cat([rows, kept])]


def save_before_after(before: DiffusionModel | None, after: DiffusionModel, forget: int | None, path: Path, seed: int,
                      target=None) -> Path:
    """Rows `c before`, `c after` for the forgotten class and two kept ones, from the same start noise, so
    a row pair differs only by the unlearning. Without a base model (a retrain oracle whose base is still
    training) only the after rows are drawn. For an attribute target, the rows are conditions (class and
    value) from `grid_conditions`."""
    attribute = target is not None and target.is_attribute
    classes = grid_conditions(target, after.num_classes) if attribute else grid_classes(forget, after.num_classes)
    forgotten = set(target.forgotten_rows().tolist()) if attribute else {forget}
    after_rows = sample_rows(after, classes, seed, GRID_COLUMNS)
    before_rows = sample_rows(before, classes, seed, GRID_COLUMNS) if before is not None else None
    rows, names = [], []
    for i, c in enumerate(classes):
        label = after.conditions.name(c, after.class_names) if attribute else after.class_names[c]
        tag = f"{label}{' (forgotten)' if c in forgotten else ''}"
        if before_rows is not None:
            rows.append(before_rows[i])
            names.append(f"{tag} before")
        rows.append(after_rows[i])
        names.append(f"{tag} after")
    return save_image_grid(rows, path, names, title=f"{preview_setting(after)}, same noise")


def forgotten_words(m: dict, class_names=None) -> str:
    """'class 3 "nine"' (`class_label`) or 'colour=red', from an unlearning run's metrics (the deletion record)."""
    if "forget_attribute" in m:
        return f"{m['forget_attribute']['name']}={m['forget_attribute']['value']}"
    return class_label(m["forget_class"], class_names)


def write_unlearn_report(run: RunDir, has_before: bool) -> Path:
    m, cfg = run.metrics, run.config
    what = forgotten_words(m, cfg.get("class_names"))
    save_loss_plot(run.path, title=f"unlearn {m['method']} ({what} forgotten)")
    figures = [("Loss", "loss.png")] if run.file("loss.png").is_file() else []
    figures.append(("Samples before and after" if has_before else "Samples after (no finished base model to compare)",
                    GRID))
    record = cfg["unlearning"]
    numbers = [["method", m["method"]], ["forgotten", what], ["steps", m["steps"]],
               ["learning rate", record["lr"]], ["batch size", record["batch_size"]],
               ["seconds", m["unlearn_seconds"]], ["fraction of pretraining time", m["fraction_of_pretrain"] or "-"],
               ["final loss (mean of the last 20 steps)", m["final_loss"]],
               ["retained / forgotten training images", f"{m['n_retain']} / {m['n_forget']}"]]
    options = ", ".join(f"{k}={v}" for k, v in record["options"].items()) or "none"
    return write_run_report(run.path, f"Unlearning: {m['method']}, {what}",
                            f"Base model `{record['base_model']}`; method options: {options}. The output is a "
                            "diffusion model directory like any other (sample, evaluate or attack it).",
                            numbers, figures)
