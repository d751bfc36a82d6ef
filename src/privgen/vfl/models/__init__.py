"""Registry of VFL models: the CLI, the benchmark and the tests enumerate it."""

from privgen.vfl.models.base import VflModel
from privgen.vfl.models.centralized import Centralized
from privgen.vfl.models.vertigan import VertiGAN
from privgen.vfl.models.vflgan import VFLGAN

MODELS: dict[str, type[VflModel]] = {m.name: m for m in (VFLGAN, VertiGAN, Centralized)}

__all__ = ["MODELS", "VflModel", "VFLGAN", "VertiGAN", "Centralized"]
