"""The demo's first stage: the data, the evaluation classifier, and FD on real data (its scale)."""

from __future__ import annotations

from typing import Any

from privgen.data import load_images, train_test_split
from privgen.demo.context import DemoContext
from privgen.eval import cached_classifier, extract_features, frechet_distance
from privgen.report import markdown_table, save_image_grid


def foundation_stage(ctx: DemoContext) -> tuple[str, dict[str, Any]]:
    """Data, evaluation classifier and the Fréchet-distance sanity check on real MNIST."""
    out, quiet = ctx.out, ctx.quiet
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
    fd_rows = [
        ["real train vs real test (all classes)", same, f"{len(f_train)} / {len(f_test)}"],
        [f"real train vs real test (class {a})", same_a, f"{int((split.train.y == a).sum())} / {int((split.test.y == a).sum())}"],
        [f"real test class {a} vs class {b}", diff, f"{int((split.test.y == a).sum())} / {int((split.test.y == b).sum())}"],
    ]
    table = markdown_table(["comparison", "FD", "n"], fd_rows)
    facts = {"classifier_test_accuracy": acc, "n_test": len(split.test),
             "fd": [{"comparison": r[0], "fd": float(r[1]), "n": r[2]} for r in fd_rows]}
    return (f"## Data and evaluation\n\n![mnist5k](mnist5k.png)\n\nEvaluation classifier (mnist5k, {size}x{size}): "
            f"test accuracy **{acc:.4f}** on {len(split.test)} held-out images (cached at `{clf_path}`).\n\n"
            f"Fréchet distance in the classifier's feature space:\n\n{table}"), facts
