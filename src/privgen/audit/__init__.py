"""Privacy audits: of published synthetic data (shadow models, set classifiers, empirical ε lower bounds) and,
in `unlearning/`, of an unlearned generative model (the relearning battery)."""
