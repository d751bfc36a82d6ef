"""The set classifier: tell models trained with the target from models trained without it.

Models are split by pair, 70% for training a random forest and 30% for testing, five times. Accuracy,
AUC and TPR at low FPR come from the test models. For the ε lower bound the decision threshold is chosen
on the forest's out-of-bag scores of its *training* models (each scored by trees that never saw it), so
the test models only count: a threshold tuned on them would inflate the bound. Each repeat's bound is
taken at confidence 1 − α/R and the largest reported (Bonferroni), so the headline holds at 1 − α.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import roc_auc_score, roc_curve

from privgen.audit.bounds import cp_lower, cp_upper, epsilon_lower_bound

TRAIN_SHARE = 0.7
REPEATS = 5


@dataclass(frozen=True)
class AttackConfig:
    repeats: int = REPEATS
    train_share: float = TRAIN_SHARE
    alpha: float = 0.05
    delta: float = 1e-5
    trees: int = 300
    max_depth: int | None = 3


def _counts(scores: np.ndarray, labels: np.ndarray, threshold: float) -> tuple[int, int, int, int]:
    pred = scores >= threshold
    pos = labels == 1
    return int((pred & pos).sum()), int((~pred & pos).sum()), int((pred & ~pos).sum()), int((~pred & ~pos).sum())


def choose_threshold(scores: np.ndarray, labels: np.ndarray, alpha: float, delta: float) -> float:
    """The threshold whose counts on these (held-out) scores give the largest ε bound."""
    candidates = np.unique(np.concatenate([scores, [0.5]]))
    best, best_eps = 0.5, -1.0
    for t in candidates:
        eps = epsilon_lower_bound(*_counts(scores, labels, t), alpha=alpha, delta=delta)
        if eps > best_eps:
            best, best_eps = float(t), eps
    return best


def tpr_at_fpr(labels: np.ndarray, scores: np.ndarray, fpr_max: float) -> float:
    fpr, tpr, _ = roc_curve(labels, scores)
    ok = fpr <= fpr_max
    return float(tpr[ok].max()) if ok.any() else 0.0


def set_attack(features: np.ndarray, labels: np.ndarray, pair: np.ndarray, cfg: AttackConfig = AttackConfig(),
               seed: int = 0) -> dict[str, Any]:
    """Run the repeated split attack on one feature matrix (one row per model, label 1 = trained with target)."""
    x = np.nan_to_num(np.asarray(features, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    y = np.asarray(labels, dtype=int)
    pairs = np.unique(pair)
    rng = np.random.default_rng(seed)
    reps: list[dict[str, Any]] = []
    roc_scores, roc_labels = [], []
    for r in range(cfg.repeats):
        shuffled = rng.permutation(pairs)
        cut = int(round(cfg.train_share * len(pairs)))
        train = np.isin(pair, shuffled[:cut])
        test = ~train
        forest = RandomForestClassifier(n_estimators=cfg.trees, max_depth=cfg.max_depth, oob_score=True,
                                        random_state=seed + r, n_jobs=1)
        forest.fit(x[train], y[train])
        scores = forest.predict_proba(x[test])[:, list(forest.classes_).index(1)]
        oob = np.nan_to_num(forest.oob_decision_function_[:, list(forest.classes_).index(1)], nan=0.5)
        threshold = choose_threshold(oob, y[train], cfg.alpha / cfg.repeats, cfg.delta)
        tp, fn, fp, tn = _counts(scores, y[test], threshold)
        both = len(np.unique(y[test])) == 2
        reps.append({
            "accuracy": float(((scores >= 0.5) == y[test]).mean()),
            "auc": float(roc_auc_score(y[test], scores)) if both else float("nan"),
            "tpr_at_fpr_1pct": tpr_at_fpr(y[test], scores, 0.01) if both else float("nan"),
            "tpr_at_fpr_10pct": tpr_at_fpr(y[test], scores, 0.10) if both else float("nan"),
            "threshold": threshold, "counts": {"tp": tp, "fn": fn, "fp": fp, "tn": tn},
            "epsilon_lb": epsilon_lower_bound(tp, fn, fp, tn, alpha=cfg.alpha / cfg.repeats, delta=cfg.delta),
            "n_train_models": int(train.sum()), "n_test_models": int(test.sum()),
        })
        roc_scores.append(scores)
        roc_labels.append(y[test])
    acc = np.array([r["accuracy"] for r in reps])
    return {
        "accuracy_mean": float(acc.mean()), "accuracy_std": float(acc.std()),
        "accuracy_ci95": _accuracy_interval(float(acc.mean()), reps[0]["n_test_models"]),
        "auc_mean": float(np.nanmean([r["auc"] for r in reps])),
        "tpr_at_fpr_1pct": float(np.nanmean([r["tpr_at_fpr_1pct"] for r in reps])),
        "tpr_at_fpr_10pct": float(np.nanmean([r["tpr_at_fpr_10pct"] for r in reps])),
        "epsilon_lb": max(r["epsilon_lb"] for r in reps),
        "alpha": cfg.alpha, "delta": cfg.delta, "repeats": reps,
        "roc": {"scores": np.concatenate(roc_scores).tolist(), "labels": np.concatenate(roc_labels).tolist()},
    }


def _accuracy_interval(accuracy: float, n_test: int) -> list[float]:
    """Exact binomial 95% interval with n = the test models of ONE repeat: the repeats reuse the same
    models, so pooling them would pretend to more independent samples than were trained."""
    k = int(round(accuracy * n_test))
    return [cp_lower(k, n_test, 0.025), cp_upper(k, n_test, 0.025)]
