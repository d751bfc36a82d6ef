"""Evaluate a trained VFL run: FD, cross-party association error, ML utility (DESIGN §9 metrics)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from privgen.checks import resolve_device
from privgen.vfl.models import VflModel
from privgen.vfl.partition import ImageLayout, TableLayout, VerticalData
from privgen.vfl.publish import sample_table
from privgen.vfl.sources import load_vertical
from privgen.vfl.store import load_model


def evaluate_run(path: Path | str, n: int | None = None, seed: int = 0, device: str = "cpu",
                 quiet: bool = False) -> tuple[dict[str, Any], np.ndarray | None]:
    """Metrics of a run's synthetic data against its own real training/test rows; plus images if any."""
    model, layout, run = load_model(path, resolve_device(device))
    data = load_vertical(run.config["data_spec"])
    n = n or min(data.n, 5000)
    if isinstance(layout, ImageLayout):
        return evaluate_images(model, layout, data, run.config["data_spec"], n, seed, quiet)
    return evaluate_table(model, layout, data, n, seed), None


def evaluate_images(model: VflModel, layout: ImageLayout, data: VerticalData, spec: dict, n: int, seed: int,
                    quiet: bool) -> tuple[dict[str, Any], np.ndarray]:
    from privgen.eval import cached_classifier, extract_features, frechet_distance, predict
    from privgen.eval.tabular import image_utility, pixel_association_error

    x_fake = layout.join(model.sample(n, seed))
    pick = np.sort(np.random.default_rng(seed).permutation(data.n)[:n])  # the split is ordered by class
    x_real = np.asarray(data.raw_train)[pick]
    clf, _, _ = cached_classifier(spec["data"], layout.shape[1], split_seed=spec["split_seed"], device="cpu", quiet=quiet)
    fd = frechet_distance(extract_features(clf, x_real), extract_features(clf, x_fake))
    flat_r, flat_f = x_real.reshape(len(x_real), -1), x_fake.reshape(len(x_fake), -1)
    c, _, w = layout.shape
    groups = [np.array([ch * layout.shape[1] * w + r * w + j for ch in range(c) for r in range(r0, r1) for j in range(w)])
              for r0, r1 in layout.bands]
    assoc = pixel_association_error(flat_r, flat_f, groups)
    util = image_utility(x_fake, predict(clf, x_fake), x_real, np.asarray(data.y_train)[pick],
                         np.asarray(data.raw_test), np.asarray(data.y_test))
    metrics = {"fd": fd, "fd_space": "evaluation classifier features", "association_error": assoc["association_error"],
               "association_pairs": assoc["pairs"], **util, "n_synthetic": n, "n_real": len(x_real)}
    return metrics, x_fake


def evaluate_table(model: VflModel, layout: TableLayout, data: VerticalData, n: int, seed: int) -> dict[str, Any]:
    from privgen.eval import frechet_distance
    from privgen.eval.tabular import association_error, utility

    synth = sample_table(model, layout, n, seed)
    real = data.raw_train.iloc[:n]  # type: ignore[union-attr]
    enc_real = np.concatenate(layout.split(real), axis=1)
    enc_synth = np.concatenate(layout.split(synth), axis=1)
    fd = frechet_distance(enc_real, enc_synth)
    assoc = association_error(real, synth, layout.party_columns(), max_pairs=400, seed=seed)
    util = utility(synth, real, data.raw_test, layout.target or real.columns[-1], seed)  # type: ignore[arg-type]
    return {"fd": fd, "fd_space": "encoded table", "association_error": assoc["association_error"],
            "association_pairs": assoc["pairs"], **util, "n_synthetic": n, "n_real": len(real)}
