"""What an unlearning run shows: the forgotten condition and two kept ones, before and after, plus report.md."""

from __future__ import annotations

from pathlib import Path

from privgen.diffusion.preview import preview_setting, sample_rows
from privgen.diffusion.store import DiffusionModel
from privgen.report import save_image_grid, save_loss_plot, write_run_report
from privgen.runs import RunDir

GRID = "before_after.png"
GRID_COLUMNS = 8


def grid_classes(forget: int, num_classes: int) -> list[int]:
    """The forgotten class and the two classes after it: the rows of every before/after grid."""
    return [forget] + [(forget + i) % num_classes for i in (1, 2)][: max(num_classes - 1, 0)]


def save_before_after(before: DiffusionModel | None, after: DiffusionModel, forget: int, path: Path, seed: int) -> Path:
    """Rows `c before`, `c after` for the forgotten class and two kept ones, from the same start noise, so
    a row pair differs only by the unlearning. Without a base model (a retrain oracle whose base is still
    training) only the after rows are drawn."""
    classes = grid_classes(forget, after.num_classes)
    after_rows = sample_rows(after, classes, seed, GRID_COLUMNS)
    before_rows = sample_rows(before, classes, seed, GRID_COLUMNS) if before is not None else None
    rows, names = [], []
    for i, c in enumerate(classes):
        tag = f"{after.class_names[c]}{' (forgotten)' if c == forget else ''}"
        if before_rows is not None:
            rows.append(before_rows[i])
            names.append(f"{tag} before")
        rows.append(after_rows[i])
        names.append(f"{tag} after")
    return save_image_grid(rows, path, names, title=f"{preview_setting(after)}, same noise")


def write_unlearn_report(run: RunDir, has_before: bool) -> Path:
    m, cfg = run.metrics, run.config
    save_loss_plot(run.path, title=f"unlearn {m['method']} (class {m['forget_class']} forgotten)")
    figures = [("Loss", "loss.png")] if run.file("loss.png").is_file() else []
    figures.append(("Samples before and after" if has_before else "Samples after (no finished base model to compare)",
                    GRID))
    record = cfg["unlearning"]
    numbers = [["method", m["method"]], ["forgotten class", m["forget_class"]], ["steps", m["steps"]],
               ["learning rate", record["lr"]], ["batch size", record["batch_size"]],
               ["seconds", m["unlearn_seconds"]], ["fraction of pretraining time", m["fraction_of_pretrain"] or "-"],
               ["final loss (mean of the last 20 steps)", m["final_loss"]],
               ["retained / forgotten training images", f"{m['n_retain']} / {m['n_forget']}"]]
    options = ", ".join(f"{k}={v}" for k, v in record["options"].items()) or "none"
    return write_run_report(run.path, f"Unlearning: {m['method']}, class {m['forget_class']}",
                            f"Base model `{record['base_model']}`; method options: {options}. The output is a "
                            "diffusion model directory like any other (sample, evaluate or attack it).",
                            numbers, figures)
