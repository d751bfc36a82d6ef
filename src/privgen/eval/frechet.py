"""Fréchet distance between two Gaussians fitted to feature sets.

FD = |mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^{1/2}). We call it FD, not FID: the features come from
privgen's evaluation classifier, not Inception, so values are comparable only within one classifier.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import linalg

from privgen.errors import UserError

MIN_SAMPLES = 10


class FewSamplesWarning(UserWarning):
    """An FD from fewer samples than feature dimensions: the covariance is singular and the value is biased
    upward, so compare it only with FDs of the same sample count."""


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2:
        raise ValueError(f"features must be (N, D), got shape {f.shape}")
    if len(f) < MIN_SAMPLES:
        raise UserError(f"Fréchet distance needs at least {MIN_SAMPLES} samples per set, got {len(f)}; "
                        "generate or pass more images")
    return f.mean(axis=0), np.cov(f, rowvar=False)


def trace_sqrt_product(s1: np.ndarray, s2: np.ndarray) -> float:
    """Tr((S1 S2)^{1/2}) for PSD S1, S2, via the symmetric form S1^{1/2} S2 S1^{1/2}.

    That form has the same eigenvalues as S1 S2 but is symmetric, so `eigh` handles the singular
    covariances that ReLU features give (dead units) without the warnings and complex parts of `sqrtm`.
    """
    w, v = linalg.eigh(s1)
    root1 = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
    m = root1 @ s2 @ root1
    return float(np.sqrt(np.clip(linalg.eigvalsh((m + m.T) / 2), 0.0, None)).sum())


def frechet_distance_from_stats(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> float:
    diff = mu1 - mu2
    fd = float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * trace_sqrt_product(s1, s2))
    return max(fd, 0.0)


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """FD between two (N, D) feature sets (each needs at least MIN_SAMPLES rows)."""
    mu1, s1 = gaussian_stats(features_a)
    mu2, s2 = gaussian_stats(features_b)
    if mu1.shape != mu2.shape:
        raise ValueError(f"feature dimensions differ: {mu1.shape[0]} vs {mu2.shape[0]}")
    n, dim = min(len(features_a), len(features_b)), mu1.shape[0]
    if n < dim:
        warnings.warn(f"Fréchet distance from {n} samples in {dim} feature dimensions: the covariance is singular "
                      "and the FD biased upward; compare it only at equal sample counts (or use more samples)",
                      FewSamplesWarning, stacklevel=2)
    return frechet_distance_from_stats(mu1, s1, mu2, s2)


def frechet_distance_interval(features_a: np.ndarray, features_b: np.ndarray, reps: int = 200, level: float = 0.95,
                              seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the FD: both sets resampled with replacement, `reps` times.

    FD is biased upward at finite sample sizes, so the interval speaks to the spread from sampling,
    not to the distance between the two populations; compare intervals at equal sample counts only.
    """
    a, b = np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)
    rng = np.random.default_rng(seed)
    values = [frechet_distance(a[rng.integers(len(a), size=len(a))], b[rng.integers(len(b), size=len(b))])
              for _ in range(reps)]
    lo, hi = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)
