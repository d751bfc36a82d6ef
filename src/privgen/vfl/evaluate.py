"""Evaluate a trained VFL run: FD, cross-party association error, ML utility (the metrics docs/vfl.md lists)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

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


def prepare_evaluation(spec: dict, quiet: bool = True) -> None:
    """Train (or find) the cached evaluation classifier an image scenario needs, so that parallel workers
    evaluating runs afterwards read it instead of racing to train it."""
    data = load_vertical(spec)
    if isinstance(data.layout, ImageLayout):
        _classifier(spec, data.layout, quiet)


def _real_images(data: VerticalData, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    pick = np.sort(np.random.default_rng(seed).permutation(data.n)[:n])  # the split is ordered by class
    return np.asarray(data.raw_train)[pick], pick


def _classifier(spec: dict, layout: ImageLayout, quiet: bool):
    from privgen.data.reference import stored_data
    from privgen.eval import cached_classifier

    clf, _, _ = cached_classifier(stored_data(spec, "the run"), layout.shape[1], split_seed=spec["split_seed"], device="cpu", quiet=quiet)
    return clf


def fd_probe(spec: dict, data: VerticalData, n: int, seed: int, quiet: bool = True
             ) -> Callable[[VflModel], dict[str, float]]:
    """FD of n fresh samples (fixed latents) against n fixed real training rows, for a curve over training.

    The real side's features are computed once; each call samples, featurises and scores the model as it is.
    """
    from privgen.eval import extract_features, frechet_distance

    layout = data.layout
    if isinstance(layout, ImageLayout):
        clf = _classifier(spec, layout, quiet)
        real_feats = extract_features(clf, _real_images(data, n, seed)[0])

        def featurise(model: VflModel) -> np.ndarray:
            return extract_features(clf, layout.join(model.sample(n, seed)))
    else:
        real_feats = np.concatenate(layout.split(data.raw_train.iloc[:n]), axis=1)  # type: ignore[union-attr]

        def featurise(model: VflModel) -> np.ndarray:
            return np.concatenate(layout.split(sample_table(model, layout, n, seed)), axis=1)

    return lambda model: {"fd": frechet_distance(real_feats, featurise(model))}


def evaluate_images(model: VflModel, layout: ImageLayout, data: VerticalData, spec: dict, n: int, seed: int,
                    quiet: bool) -> tuple[dict[str, Any], np.ndarray]:
    from privgen.eval import extract_features, frechet_distance, predict
    from privgen.eval.frechet import frechet_distance_interval
    from privgen.eval.tabular import image_utility, pixel_association_error

    x_fake = layout.join(model.sample(n, seed))
    x_real, pick = _real_images(data, n, seed)
    clf = _classifier(spec, layout, quiet)
    f_real, f_fake = extract_features(clf, x_real), extract_features(clf, x_fake)
    fd = frechet_distance(f_real, f_fake)
    fd_lo, fd_hi = frechet_distance_interval(f_real, f_fake, seed=seed)
    flat_r, flat_f = x_real.reshape(len(x_real), -1), x_fake.reshape(len(x_fake), -1)
    c, _, w = layout.shape
    groups = [np.array([ch * layout.shape[1] * w + r * w + j for ch in range(c) for r in range(r0, r1) for j in range(w)])
              for r0, r1 in layout.bands]
    assoc = pixel_association_error(flat_r, flat_f, groups)
    util = image_utility(x_fake, predict(clf, x_fake), x_real, np.asarray(data.y_train)[pick],
                         np.asarray(data.raw_test), np.asarray(data.y_test))
    metrics = {"fd": fd, "fd_ci95": [fd_lo, fd_hi], "fd_space": "evaluation classifier features",
               "association_error": assoc["association_error"],
               "association_pairs": assoc["pairs"], **util, "n_synthetic": n, "n_real": len(x_real)}
    return metrics, x_fake


def evaluate_table(model: VflModel, layout: TableLayout, data: VerticalData, n: int, seed: int) -> dict[str, Any]:
    synth = sample_table(model, layout, n, seed)
    clipped = synth.attrs.get("clipped", {})
    return {**table_metrics(synth, layout, data, seed), "clipped_values": int(sum(clipped.values())),
            "clipped_by_column": {c: k for c, k in clipped.items() if k}}


def evaluate_file(path: Path, spec: dict, seed: int = 0) -> dict[str, Any]:
    """Metrics of any synthetic table (a CSV/Parquet, e.g. a Ray run's output) against the real rows of `spec`."""
    from privgen.data.tables import read_table_file
    from privgen.errors import UserError

    if not path.is_file():
        raise UserError(f"--synthetic {path} does not exist")
    data = load_vertical(spec)
    layout = data.layout
    if not isinstance(layout, TableLayout):
        raise UserError(f"--synthetic {path}: the real data is an image dataset; --synthetic evaluates tables")
    synth = read_table_file(path)
    check_synthetic_columns(synth, data.raw_train, path)  # type: ignore[arg-type]
    if len(synth) < 10:
        raise UserError(f"--synthetic {path} has {len(synth)} rows; the Fréchet distance needs at least 10")
    return table_metrics(synth[list(data.raw_train.columns)].reset_index(drop=True), layout, data, seed)  # type: ignore[union-attr]


def check_synthetic_columns(synth, real, path: Path) -> None:
    """Same columns as the real rows, numbers where the real rows hold numbers: else one line saying which."""
    from privgen.data.tabular import is_categorical
    from privgen.errors import UserError

    missing = [str(c) for c in real.columns if c not in synth.columns]
    extra = [str(c) for c in synth.columns if c not in real.columns]
    if missing or extra:
        raise UserError(f"--synthetic {path} does not have the real data's columns: "
                        + "; ".join(p for p in [f"missing {', '.join(missing)}" if missing else "",
                                                f"not in the real data {', '.join(extra)}" if extra else ""] if p))
    text = [str(c) for c in real.columns if not is_categorical(real[c]) and is_categorical(synth[c])]
    if text:
        raise UserError(f"--synthetic {path}: columns {', '.join(text)} are numeric in the real data but not in the "
                        "synthetic table; write them as numbers")


def table_metrics(synth, layout: TableLayout, data: VerticalData, seed: int) -> dict[str, Any]:
    """FD in the encoded space, cross-party association error and utility of `synth` against the real rows."""
    from privgen.eval import frechet_distance
    from privgen.eval.frechet import frechet_distance_interval
    from privgen.eval.tabular import association_error, utility

    n = len(synth)
    real = data.raw_train.iloc[:n]  # type: ignore[union-attr]
    enc_real = np.concatenate(layout.split(real), axis=1)
    enc_synth = np.concatenate(layout.split(synth), axis=1)
    fd = frechet_distance(enc_real, enc_synth)
    fd_lo, fd_hi = frechet_distance_interval(enc_real, enc_synth, seed=seed)
    assoc = association_error(real, synth, layout.party_columns(), max_pairs=400, seed=seed)
    util = utility(synth, real, data.raw_test, layout.target or real.columns[-1], seed)  # type: ignore[arg-type]
    return {"fd": fd, "fd_ci95": [fd_lo, fd_hi], "fd_space": "encoded table", "association_error": assoc["association_error"],
            "association_pairs": assoc["pairs"], **util, "n_synthetic": n, "n_real": len(real)}
