"""privgen: privacy of generative models.

Two halves: unlearning for conditional diffusion models (and the relearning attack that tests it), and
synthetic data publication from vertically partitioned parties (VFLGAN) with privacy audits.
"""

__version__ = "0.1.0"
