"""Attacks on unlearned generative models: DiMRA, the relearning attack (plain fine-tuning of a released model on auxiliary data)."""

from privgen.attacks.aux import AUX_SOURCES, AuxData, AuxRequest, build_aux
from privgen.attacks.relearn import relearn, relearn_run

__all__ = ["AUX_SOURCES", "AuxData", "AuxRequest", "build_aux", "relearn", "relearn_run"]
