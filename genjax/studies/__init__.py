"""Studies: what a researcher runs on trained models, as library functions.

Keyword arguments in, results out, no flags: workdir evaluation
(`evaluation.evaluate_run`), Classification Accuracy Score (`cas`), likelihood
bounds over a split (`likelihood.likelihood_bound`), the augmentation study and
the GAN loss table. Each `experiments/*.py` script only parses flags and calls one.
"""
