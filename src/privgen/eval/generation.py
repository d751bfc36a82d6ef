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

from privgen.diffusion.model import apply_threads
from privgen.diffusion.sampler import check_sampling_args
from privgen.diffusion.solvers import DEFAULT_SAMPLER, describe, resolve_steps
from privgen.diffusion.store import load_model, model_split
from privgen.data.class_names import classes_label
from privgen.errors import UserError
from privgen.eval.classifier import EvalCNN, extract_features
from privgen.data.reference import stored_data
from privgen.eval.classifier_run import cached_classifier, check_classifier_classes, load_classifier
from privgen.eval.forgetting import RealFeatures, forgotten_and_retained
from privgen.eval.frechet import frechet_distance
from privgen.eval.generated import GeneratedSet, class_labels, generate
from privgen.eval.intervals import wilson
from privgen.report import markdown_table, save_image_grid, write_markdown
from privgen.runs import RunDir
from privgen.checks import resolve_device

KIND = "generation-eval"


def generation_metrics(gen: GeneratedSet, real_features: np.ndarray, real_labels: np.ndarray,
                       names: list[str]) -> dict[str, Any]:
    """Per-class and overall class accuracy (Wilson intervals) and FD against the real test features."""
    classes = range(len(names))
    acc = {names[c]: gen.class_accuracy(c) for c in classes}
    fd = {names[c]: (frechet_distance(gen.features[gen.labels == c], real_features[real_labels == c])
                     if (real_labels == c).sum() >= 10 else None) for c in classes}
    hits_all = sum(gen.hits(c)[0] for c in classes)
    return {
        "class_accuracy": {"per_class": acc, "mean": float(np.mean(list(acc.values()))),
                           "per_class_ci": {names[c]: gen.class_accuracy_ci(c) for c in classes},
                           "ci": wilson(hits_all, len(gen.labels)), "n": len(gen.labels)},
        "fd": {"per_class": fd, "all": frechet_distance(gen.features, real_features)},
        **gen.setting(),
    }


def unlearning_split(cfg: dict[str, Any], gen: GeneratedSet, test_features: np.ndarray, test_labels: np.ndarray,
                     names: list[str]) -> dict[str, Any]:
    """For a model whose config records a deletion: `forgotten` and `retained` apart (nothing otherwise)."""
    from privgen.attacks.aux import deleted_attribute, deletion_record

    c_f = deletion_record(cfg)
    if c_f is not None:
        real = RealFeatures(test_features[test_labels != c_f], int(c_f))
        return forgotten_and_retained(gen, real, names)
    if deleted_attribute(cfg):  # images asked by class only: the forgotten value is not a condition asked here
        return {"forgotten_attribute": deleted_attribute(cfg)}
    return {}


def evaluate_generation(model_dir: Path | str, out: Path | str, *, n_per_class: int = 100, guidance_scale: float = 3.0,
                        sampler: str = DEFAULT_SAMPLER, num_inference_steps: int | None = None, seed: int = 0,
                        classifier: Path | str | None = None, device: str = "auto", overwrite: bool = False,
                        quiet: bool = False) -> RunDir:
    dev = resolve_device(device)
    model = load_model(model_dir, dev)
    apply_threads(model.recipe, dev)
    check_sampling_args(guidance_scale, num_inference_steps, n_per_class, sampler)
    steps = resolve_steps(sampler, num_inference_steps, model.recipe.sample_steps)
    if n_per_class < 10:
        raise UserError(f"--n-per-class must be at least 10 for a Fréchet distance, got {n_per_class}")
    cfg = model.config
    clf: EvalCNN | None = None
    if classifier is not None:
        clf, clf_cfg = load_classifier(classifier, dev)
        clf_path = Path(classifier)
        check_classifier_classes(model.class_names, clf_cfg, str(classifier))
        if int(clf_cfg.get("image_size", -1)) != model.image_size:
            raise UserError(f"classifier {classifier} works on {clf_cfg.get('image_size')}x{clf_cfg.get('image_size')} "
                            f"images but the model makes {model.image_size}x{model.image_size}; pass a matching one")
    test = model_split(model).test
    config = {"model": str(model_dir), "n_per_class": n_per_class, "guidance_scale": guidance_scale,
              "sampler": sampler, "steps": steps, "seed": seed, "device": str(dev),
              "classifier": str(classifier) if classifier else None}
    run = RunDir.create(out, KIND, config, overwrite=overwrite)
    if clf is None:
        clf, _, clf_path = cached_classifier(stored_data(cfg), model.image_size, cfg.get("split_seed", 0),
                                             device=device, quiet=quiet, class_names=model.class_names)
    gen = generate(model, clf, class_labels(model.num_classes, n_per_class), guidance_scale=guidance_scale,
                   sampler=sampler, num_inference_steps=steps, seed=seed, quiet=quiet)
    names = list(model.class_names)
    test_features = extract_features(clf, test.x)
    metrics: dict[str, Any] = {**generation_metrics(gen, test_features, test.y, names),
                               "n_generated_per_class": n_per_class, "n_real_test": int(len(test)),
                               "classifier": str(clf_path)}
    metrics.update(unlearning_split(cfg, gen, test_features, test.y, names))
    rows = [gen.images[gen.labels == c][:10] for c in range(model.num_classes)]
    save_image_grid(rows, run.file("samples.png"), names, title=f"guidance {guidance_scale}, {describe(sampler, steps)}")
    write_report(run, metrics, names)
    run.write_metrics(metrics)
    run.log(event="finished", mean_class_accuracy=metrics["class_accuracy"]["mean"], fd_all=metrics["fd"]["all"])
    return run


def unlearning_lines(metrics: dict[str, Any]) -> str:
    """The forgotten and retained classes' numbers, for report.md and the CLI (empty for a model never unlearned)."""
    if "forgotten_attribute" in metrics:
        return (f"This model forgot the attribute value {metrics['forgotten_attribute']}; images here are asked by "
                "class only, so its forget rate is measured by `privgen bench unlearning --forget-attribute`.\n\n")
    if "forgotten" not in metrics:
        return ""
    f, r = metrics["forgotten"], metrics["retained"]
    (flo, fhi), (rlo, rhi) = f["forget_accuracy_ci"], r["class_accuracy_ci"]
    what = classes_label(f["class_ids"], _names_of(metrics))
    return (f"Unlearned model: forgotten {what}: forget accuracy **{f['forget_accuracy']:.3f}** [95% Wilson {flo:.3f}, "
            f"{fhi:.3f}] ({f['n']} images; lower is better). Retained classes ({', '.join(r['classes'])}): class "
            f"accuracy **{r['class_accuracy']:.3f}** [95% Wilson {rlo:.3f}, {rhi:.3f}] ({r['n']} images), FD "
            f"**{r['fd']:.3f}** against {r['n_real_test']} real retained test images. The mean above mixes both.\n\n")


def _names_of(metrics: dict[str, Any]) -> list[str]:
    """Class names in index order, from the per-class table (metrics.json keeps them there)."""
    return list(metrics["class_accuracy"]["per_class"])


def write_report(run: RunDir, metrics: dict[str, Any], names: list[str]) -> None:
    """report.md: the per-class table with intervals, the overall numbers and the sample grid."""
    acc = metrics["class_accuracy"]
    gone = set(metrics.get("forgotten", {}).get("classes", []))
    rows = [[f"{c} (forgotten)" if c in gone else c, f"{acc['per_class'][c]:.3f}", f"[{acc['per_class_ci'][c][0]:.3f}, {acc['per_class_ci'][c][1]:.3f}]",
             "-" if metrics["fd"]["per_class"][c] is None else f"{metrics['fd']['per_class'][c]:.3f}"] for c in names]
    lo, hi = acc["ci"]
    split = unlearning_lines(metrics)
    text = (f"# Generation evaluation\n\nModel `{run.config['model']}`: {metrics['n_generated_per_class']} images per "
            f"class at guidance {metrics['guidance_scale']:g}, {describe(metrics['sampler'], metrics['steps'])}, judged by the classifier "
            f"`{metrics['classifier']}`; FD against {metrics['n_real_test']} real test images.\n\n"
            f"Mean class accuracy **{acc['mean']:.3f}** [95% Wilson {lo:.3f}, {hi:.3f}], FD (all classes) "
            f"**{metrics['fd']['all']:.3f}**.\n\n" + split
            + markdown_table(["class", "class accuracy", "95% CI", "FD"], rows)
            + "\n![samples](samples.png)\n\nNumbers: [metrics.json](metrics.json).\n")
    write_markdown(run.file("report.md"), text)
