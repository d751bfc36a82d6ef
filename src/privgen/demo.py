"""The README's main job (`make demo`): run every pipeline that exists, on embedded data, and report.

Each area contributes a stage: a function that takes the demo directory and returns a Markdown section.
Stages reuse cached models, so a second demo is fast.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable


from privgen.data import load_images, train_test_split
from privgen.eval import cached_classifier, extract_features, frechet_distance
from privgen.report import markdown_table, save_image_grid, write_markdown

Stage = Callable[[Path, bool], str]


def foundation_stage(out: Path, quiet: bool) -> str:
    """Data, evaluation classifier and the Fréchet-distance sanity check on real MNIST."""
    size = 16
    ds = load_images("mnist5k", size)
    split = train_test_split(ds, 0.2, 0)
    rows = [split.train.x[split.train.y == c][:10] for c in range(ds.num_classes)]
    save_image_grid(rows, out / "mnist5k.png", list(ds.class_names), title=f"mnist5k at {size}x{size}")
    clf, _, clf_path = cached_classifier("mnist5k", size, quiet=quiet)
    from privgen.runs import RunDir

    acc = RunDir.open(clf_path, "classifier").metrics["test_accuracy"]
    f_train, f_test = extract_features(clf, split.train.x), extract_features(clf, split.test.x)
    same = frechet_distance(f_train, f_test)
    a, b = 3, 8
    diff = frechet_distance(f_test[split.test.y == a], f_test[split.test.y == b])
    same_a = frechet_distance(f_train[split.train.y == a], f_test[split.test.y == a])
    table = markdown_table(["comparison", "FD", "n"], [
        ["real train vs real test (all classes)", same, f"{len(f_train)} / {len(f_test)}"],
        [f"real train vs real test (class {a})", same_a, f"{int((split.train.y == a).sum())} / {int((split.test.y == a).sum())}"],
        [f"real test class {a} vs class {b}", diff, f"{int((split.test.y == a).sum())} / {int((split.test.y == b).sum())}"],
    ])
    return (f"## Data and evaluation\n\n![mnist5k](mnist5k.png)\n\nEvaluation classifier (mnist5k, {size}x{size}): "
            f"test accuracy **{acc:.4f}** on {len(split.test)} held-out images (cached at `{clf_path}`).\n\n"
            f"Fréchet distance in the classifier's feature space:\n\n{table}")


def diffusion_stage(out: Path, quiet: bool) -> str:
    """Train (or reuse from the cache) a small class-conditional diffusion model, sample it, evaluate it.

    Uses the `demo16` recipe (fewer steps than the default `cpu16`) so the whole demo stays short on a
    2-core CPU; its numbers are therefore below the pretrained default's (docs/diffusion.md).
    """
    from privgen.cache import cache_path
    from privgen.diffusion import load_model, sample
    from privgen.diffusion.evaluate import evaluate_generation
    from privgen.diffusion.model import get_recipe
    from privgen.diffusion.trainer import train

    recipe = get_recipe("demo16")
    model_dir = cache_path("diffusion", f"{recipe.name}-mnist5k-seed0")
    if not (model_dir / "metrics.json").exists():
        train("mnist5k", model_dir, recipe, seed=0, quiet=quiet)
    model = load_model(model_dir)
    images = sample(model, list(range(model.num_classes)), 8, 3.0, recipe.sample_steps, seed=0)
    save_image_grid([v.numpy() for v in images.values()], out / "diffusion_samples.png", list(model.class_names),
                    title=f"{recipe.name}: guidance 3, {recipe.sample_steps} DDIM steps")
    rows = []
    for scale in (1.0, 3.0):
        run = evaluate_generation(model_dir, out / f"diffusion_eval_g{scale:g}", n_per_class=20, guidance_scale=scale,
                                  overwrite=True, quiet=quiet)
        m = run.metrics
        rows.append([scale, m["class_accuracy"]["mean"], m["fd"]["all"], 20 * model.num_classes])
    table = markdown_table(["guidance", "mean class accuracy", "FD (all classes)", "n generated"], rows)
    trained = json_steps(model_dir)
    return (f"## Class-conditional diffusion\n\nRecipe **{recipe.name}** ({trained} steps, channels "
            f"{'/'.join(map(str, recipe.channels))}, batch {recipe.batch_size}, 16x16), cached at `{model_dir}`. "
            f"The default recipe `cpu16` trains longer and scores higher (docs/diffusion.md).\n\n"
            f"![samples](diffusion_samples.png)\n\n{table}")


def json_steps(model_dir: Path) -> int:
    from privgen.runs import RunDir

    return int(RunDir.open(model_dir, "diffusion").metrics["steps"])


def vfl_stage(out: Path, quiet: bool) -> str:
    """A short VFLGAN run on MNIST halves (16x16, reusing the foundation's classifier): grid + numbers."""
    from privgen.vfl.evaluate import evaluate_run
    from privgen.vfl.nets import SIZE_PRESETS
    from privgen.vfl.run import train_vfl_run
    from privgen.vfl.sources import data_spec

    import torch

    torch.set_num_threads(1)  # small networks; avoids oversubscribing a shared CPU
    iterations = 400
    spec = data_spec("mnist5k", 2, image_size=16)
    run = train_vfl_run(spec, "vflgan", out / "vfl", seed=0, epochs=None, iterations=iterations,
                        sizes=SIZE_PRESETS["small"], device="cpu", overwrite=True, quiet=quiet)
    metrics, x = evaluate_run(run.path, 1000, 0, "cpu", quiet)
    save_image_grid([x[i:i + 10] for i in range(0, 40, 10)], out / "vfl_samples.png",
                    title="VFLGAN, 2 parties (top / bottom 8 rows)")
    m = run.metrics
    table = markdown_table(["quantity", "value"], [
        ["generator iterations (5 critic steps each)", m["iterations"]],
        ["FD to real (classifier features, 1000 vs 1000)", metrics["fd"]],
        ["cross-party pixel association error", metrics["association_error"]],
        ["utility: TSTR accuracy (real-trained)", f"{metrics['utility']:.3f} ({metrics['utility_real']:.3f})"],
        ["ms per iteration", m["iteration_time_s"] * 1000],
        ["bytes sent per iteration (features + gradients)", int(m["bytes_per_iteration"])],
    ])
    return ("## Vertical federated GAN (VFLGAN)\n\nTwo parties each hold half of every MNIST image; only features and "
            f"feature gradients cross between them and the server.\n\n![vfl samples](vfl_samples.png)\n\n{table}")


STAGES: list[Stage] = [foundation_stage, diffusion_stage, vfl_stage]


def run_demo(out: Path, quiet: bool = False) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    sections, timings = [], []
    for stage in STAGES:
        start = time.perf_counter()
        sections.append(stage(out, quiet))
        timings.append([stage.__name__, round(time.perf_counter() - start, 1)])
    report = "# privgen demo\n\n" + "\n".join(sections) + "\n## Timings\n\n" + markdown_table(["stage", "seconds"], timings)
    return write_markdown(out / "report.md", report)


__all__ = ["run_demo", "STAGES"]
