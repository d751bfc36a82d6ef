"""`eval generation`: class accuracy and Fréchet distance of generated images, per class and overall.

Class accuracy of class c = share of images generated under c that the evaluation classifier labels c,
with a 95% Wilson interval (the pooled share over every class for the mean: equal counts per class make
the two the same number). FD compares generated images with the real TEST images of the model's own split (never its training set),
in the evaluation classifier's feature space.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from privgen.diffusion.sampler import check_sampling_args, sample_labels
from privgen.diffusion.store import load_model, model_split
from privgen.errors import UserError
from privgen.diffusion.model import apply_threads
from privgen.eval import cached_classifier, extract_features, frechet_distance, load_classifier, predict
from privgen.eval.intervals import wilson
from privgen.report import markdown_table, save_image_grid, write_markdown
from privgen.runs import RunDir
from privgen.checks import resolve_device

KIND = "generation-eval"


def evaluate_generation(model_dir: Path | str, out: Path | str, *, n_per_class: int = 100, guidance_scale: float = 3.0,
                        num_inference_steps: int | None = None, seed: int = 0, classifier: Path | str | None = None,
                        device: str = "auto", overwrite: bool = False, quiet: bool = False) -> RunDir:
    dev = resolve_device(device)
    model = load_model(model_dir, dev)
    apply_threads(model.recipe, dev)
    steps = num_inference_steps
    steps = steps if steps is not None else model.recipe.sample_steps
    check_sampling_args(guidance_scale, steps, n_per_class)
    if n_per_class < 10:
        raise UserError(f"--n-per-class must be at least 10 for a Fréchet distance, got {n_per_class}")
    cfg = model.config
    if classifier is not None:
        clf, clf_cfg = load_classifier(classifier, dev)
        clf_path = Path(classifier)
        if int(clf_cfg.get("image_size", -1)) != model.image_size:
            raise UserError(f"classifier {classifier} works on {clf_cfg.get('image_size')}x{clf_cfg.get('image_size')} "
                            f"images but the model makes {model.image_size}x{model.image_size}; pass a matching one")
    test = model_split(model).test
    config = {"model": str(model_dir), "n_per_class": n_per_class, "guidance_scale": guidance_scale, "steps": steps,
              "seed": seed, "device": str(dev), "classifier": str(classifier) if classifier else None}
    run = RunDir.create(out, KIND, config, overwrite=overwrite)
    if classifier is None:
        clf, _, clf_path = cached_classifier(cfg["data"], model.image_size, cfg.get("split_seed", 0), device=device,
                                             quiet=quiet)
    labels = torch.arange(model.num_classes).repeat_interleave(n_per_class)
    images = sample_labels(model, labels, guidance_scale, steps, seed, quiet=quiet).numpy()
    pred = predict(clf, images)
    f_gen, f_real = extract_features(clf, images), extract_features(clf, test.x)
    names = list(model.class_names)
    acc, acc_ci, fd = {}, {}, {}
    hits_all = 0
    for c in range(model.num_classes):
        mine = labels.numpy() == c
        hits = int((pred[mine] == c).sum())
        hits_all += hits
        acc[names[c]] = hits / int(mine.sum())
        acc_ci[names[c]] = wilson(hits, int(mine.sum()))
        real_c = test.y == c
        fd[names[c]] = frechet_distance(f_gen[mine], f_real[real_c]) if real_c.sum() >= 10 else None
    metrics: dict[str, Any] = {
        "class_accuracy": {"per_class": acc, "mean": float(np.mean(list(acc.values()))), "per_class_ci": acc_ci,
                           "ci": wilson(hits_all, len(labels)), "n": len(labels)},
        "fd": {"per_class": fd, "all": frechet_distance(f_gen, f_real)},
        "n_generated_per_class": n_per_class, "n_real_test": int(len(test)),
        "guidance_scale": guidance_scale, "steps": steps, "classifier": str(clf_path),
    }
    rows = [images[labels.numpy() == c][:10] for c in range(model.num_classes)]
    save_image_grid(rows, run.file("samples.png"), names, title=f"guidance {guidance_scale}, {steps} DDIM steps")
    write_report(run, metrics, names)
    run.write_metrics(metrics)
    run.log(event="finished", mean_class_accuracy=metrics["class_accuracy"]["mean"], fd_all=metrics["fd"]["all"])
    return run


def write_report(run: RunDir, metrics: dict[str, Any], names: list[str]) -> None:
    """report.md: the per-class table with intervals, the overall numbers and the sample grid."""
    acc = metrics["class_accuracy"]
    rows = [[c, f"{acc['per_class'][c]:.3f}", f"[{acc['per_class_ci'][c][0]:.3f}, {acc['per_class_ci'][c][1]:.3f}]",
             "-" if metrics["fd"]["per_class"][c] is None else f"{metrics['fd']['per_class'][c]:.3f}"] for c in names]
    lo, hi = acc["ci"]
    text = (f"# Generation evaluation\n\nModel `{run.config['model']}`: {metrics['n_generated_per_class']} images per "
            f"class at guidance {metrics['guidance_scale']:g}, {metrics['steps']} DDIM steps, judged by the classifier "
            f"`{metrics['classifier']}`; FD against {metrics['n_real_test']} real test images.\n\n"
            f"Mean class accuracy **{acc['mean']:.3f}** [95% Wilson {lo:.3f}, {hi:.3f}], FD (all classes) "
            f"**{metrics['fd']['all']:.3f}**.\n\n"
            + markdown_table(["class", "class accuracy", "95% CI", "FD"], rows)
            + "\n![samples](samples.png)\n\nNumbers: [metrics.json](metrics.json).\n")
    write_markdown(run.file("report.md"), text)
