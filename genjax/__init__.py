"""genjax: deep generative image models in JAX (GANs, VAEs, DRAW) and their evaluation.

The import package is `genjax`; the distribution on the package index is
`genjax-vision` (an unrelated project owns the name `genjax` there).

TensorFlow serves only the tfds data pipeline here (decoding, no model maths).
Its C++ start-up logging (`All log messages before absl::InitializeLog() ...`,
`oneDNN custom operations are on ...`) would precede every command's own output,
so genjax turns it off unless the environment already says otherwise:
TF_CPP_MIN_LOG_LEVEL=2 and TF_ENABLE_ONEDNN_OPTS=0 (oneDNN changes TF's CPU
matmul/conv kernels, which the pipeline does not run).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

__version__ = "0.1.0"
