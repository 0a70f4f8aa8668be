"""genjax: deep generative image models in JAX (GANs, VAEs, DRAW) and their evaluation.

The import package is `genjax`; the distribution on the package index is
`genjax-vision` (an unrelated project owns the name `genjax` there).
"""

__version__ = "0.1.0"
