"""The FID Inception network on a CPU through ONNX Runtime: the same network, 2.4x faster.

On a CPU, XLA runs Inception's convolutions far below the machine's arithmetic
limit, while ONNX Runtime's (MLAS, blocked NCHWc kernels) come close to it. So on
a CPU genjax exports its own flax network (`genjax.eval.inception.FIDInceptionV3`,
with the same weights) to ONNX with `genjax.eval.onnx_export` and runs that graph
with ONNX Runtime. The 299x299 preprocessing stays in JAX (`inception.preprocess`,
bit-exact with TF's resize). Features match the JAX path's within 1e-5 (batch-norm
folding and another summation order); FID from either agrees to far better than
its sampling noise. Both are tested against each other and against the reference.

Which one runs (`backend()`): the environment variable GENJAX_INCEPTION_BACKEND,
`jax` or `onnxruntime`; unset, `onnxruntime` where JAX's default backend is the
CPU and ONNX Runtime is installed, else `jax` (GPUs and TPUs run the JAX network).
Figures: `bench/inception_throughput.txt`.
"""

from __future__ import annotations

import functools
import os

import jax
import numpy as np

from genjax.errors import UserError
from genjax.eval import inception, onnx_export

BACKENDS = ("jax", "onnxruntime")
ENV = "GENJAX_INCEPTION_BACKEND"


def available() -> bool:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def backend() -> str:
    """The Inception backend this process uses (see the module docstring)."""
    chosen = os.environ.get(ENV, "").strip()
    if chosen:
        if chosen not in BACKENDS:
            raise UserError(f"{ENV} must be one of {list(BACKENDS)}, got {chosen!r}")
        if chosen == "onnxruntime" and not available():
            raise UserError(f"{ENV}=onnxruntime, but onnx and onnxruntime are not installed "
                            "(pip install genjax-vision installs them)")
        return chosen
    return "onnxruntime" if jax.default_backend() == "cpu" and available() else "jax"


def export(params, batch_size: int) -> bytes:
    """The serialized ONNX model of the network (no preprocessing) for (batch_size, 299, 299, 3)."""
    model = inception.FIDInceptionV3()
    example = jax.ShapeDtypeStruct((batch_size, inception.INPUT_SIZE, inception.INPUT_SIZE, 3),
                                   np.float32)
    return onnx_export.to_onnx(lambda x: model.apply({"params": params}, x), example,
                               name="fid_inception_v3",
                               doc="FID Inception (pool3, 2048-d), exported by genjax")


class OnnxInception:
    """`features(images) -> (batch_size, 2048)` float32 numpy, for batches of exactly batch_size.

    Images as `inception.preprocess` takes them: (N, H, W, 1 or 3) uint8, or float in [0, 1].
    `network(pixels)` runs the network alone on preprocessed (N, 299, 299, 3) pixels.
    Building one exports the network (about 4 s) and starts a session (under 1 s).
    """

    def __init__(self, params, batch_size: int, threads: int | None = None):
        import onnxruntime as ort

        self.batch_size = batch_size
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # its warnings about unused initializers: not news
        self._session = ort.InferenceSession(export(params, batch_size), options,
                                             providers=["CPUExecutionProvider"])
        self._preprocess = jax.jit(inception.preprocess)

    def network(self, pixels) -> np.ndarray:
        if len(pixels) != self.batch_size:
            raise ValueError(f"this session takes batches of {self.batch_size}, got {len(pixels)}")
        pixels = np.asarray(pixels, np.float32)
        return self._session.run(["features"], {"images": pixels})[0]

    def __call__(self, images) -> np.ndarray:
        return self.network(np.asarray(self._preprocess(images)))


@functools.lru_cache(maxsize=4)
def session(batch_size: int) -> OnnxInception:
    """A session for the default weights (`inception.load_params()`), one per batch size."""
    return OnnxInception(inception.load_params(), batch_size)


def network(pixels) -> np.ndarray:
    """`OnnxInception.network` of the default weights, whatever the batch size."""
    return session(len(pixels)).network(pixels)
