"""Privacy audits of published synthetic data: shadow models, set classifiers, empirical ε lower bounds."""
