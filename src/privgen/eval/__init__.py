"""Evaluation: the classifier, its feature space, Fréchet distance and class shares."""

from privgen.eval.classifier import EvalCNN, class_share, extract_features, predict
from privgen.eval.classifier_run import cached_classifier, load_classifier, train_classifier_run
from privgen.eval.frechet import frechet_distance

__all__ = ["EvalCNN", "class_share", "extract_features", "predict", "frechet_distance",
           "cached_classifier", "load_classifier", "train_classifier_run"]
