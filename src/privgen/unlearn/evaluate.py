"""Moved to `privgen.eval.forgetting` (one evaluator with `eval generation`); kept so old imports work."""

from privgen.eval.forgetting import RealFeatures, evaluate_forgetting, forget_accuracy, score, wilson

__all__ = ["RealFeatures", "evaluate_forgetting", "forget_accuracy", "score", "wilson"]
