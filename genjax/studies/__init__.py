"""Studies: what a researcher runs on trained models, as library functions.

Keyword arguments in, results out, no flags: workdir evaluation
(`evaluation.evaluate_run`), Classification Accuracy Score (`cas`), likelihood
bounds over a split (`likelihood.likelihood_bound`), the augmentation study, the
GAN loss table, the image-enhancement comparison (`enhancement.compare_methods`)
and applying an image-to-image run to your own PNGs (`enhance.enhance_files`).
Each `experiments/*.py` script only parses flags and calls one.
"""
