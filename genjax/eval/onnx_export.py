"""Export a JAX function of NHWC images to an ONNX graph, for an optimized CPU runtime.

XLA:CPU runs convolutions well below what these CPUs can do: on a 2-core AVX-512 machine
49 GFLOP/s on Inception's largest layer against ONNX Runtime's 162, and the whole FID
network 2.4x slower (`bench/inception_throughput.txt`). This module turns
the function's own jaxpr into ONNX, so the exported network is the flax network
itself, with its weights, not a second description of it:

- `jit`, `custom_jvp_call` and `custom_vjp_call` are inlined;
- every operation whose inputs are all constants (the weights, literals) is evaluated
  once at export time with JAX itself (batch-norm statistics fold into scales and
  shifts, an average pool's divisor into an array);
- the rest maps one to one onto ONNX operators: `conv_general_dilated` -> Conv,
  `add`/`sub`/`mul`/`div`/`max`/`min` -> the same (max with 0 -> Relu),
  `reduce_window_sum` -> AveragePool x window size (divided by its in-bounds counts,
  one AveragePool that excludes padding), `reduce_window_max` -> MaxPool,
  `concatenate` -> Concat, `reduce_sum` -> ReduceSum.

Layout: the function sees NHWC, ONNX's Conv and pools want NCHW. The graph takes the
NHWC input, transposes it once, and keeps every 4-d tensor NCHW from then on (axes
of concatenations and reductions are mapped; 4-d constants are transposed). A rank-4
output is transposed back. Anything else (another primitive, a dilated input, a
layout the rules do not know) raises `UnsupportedError` naming it, at export time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import numpy as np
from jax.extend import core as jcore

OPSET = 17
_PHYSICAL = (0, 2, 3, 1)  # where logical NHWC axis a lives in the NCHW graph
_BINARY = {"add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "max": "Max", "min": "Min"}
_NESTED = ("jit", "pjit", "closed_call", "core_call", "custom_jvp_call", "custom_vjp_call",
           "remat", "checkpoint")


class UnsupportedError(ValueError):
    """The function uses something no export rule covers (named in the message)."""


@dataclasses.dataclass(frozen=True)
class Tensor:
    """A value computed in the graph: its ONNX name and its logical (JAX) shape."""

    name: str
    shape: tuple[int, ...]


class WindowSum(Tensor):
    """A `reduce_window_sum` not emitted yet: divided by its window's in-bounds count (an
    average pool that excludes padding) it becomes one AveragePool(count_include_pad=0);
    anywhere else it becomes AveragePool x window size when its name is first read."""

    def __init__(self, graph, x: Tensor, window, shape):
        object.__setattr__(self, "_graph", graph)
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "window", window)
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "_name", None)

    @property
    def name(self) -> str:
        if self._name is None:
            kernel, strides, pads = self.window
            mean = self._graph.node("AveragePool", [self.x.name], kernel_shape=kernel,
                                    strides=strides, pads=pads, count_include_pad=1)
            size = np.float32(kernel[0] * kernel[1])
            object.__setattr__(self, "_name", self._graph.node(
                "Mul", [mean, self._graph.constant(size)]))
        return self._name

    def counts(self) -> np.ndarray:
        """How many in-bounds elements each output window holds, as (1, H', W', 1)."""
        kernel, strides, pads = self.window
        ones = np.ones((1, *self.x.shape[1:3], 1), np.float32)
        return np.asarray(jax.lax.reduce_window(
            ones, np.float32(0), jax.lax.add, (1, *kernel, 1), (1, *strides, 1),
            ((0, 0), (pads[0], pads[2]), (pads[1], pads[3]), (0, 0))))


class _Graph:
    def __init__(self):
        from onnx import numpy_helper

        self._from_array = numpy_helper.from_array
        self.nodes, self.initializers, self._count = [], [], 0

    def fresh(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def constant(self, array: np.ndarray, hint: str = "c") -> str:
        name = self.fresh(hint)
        self.initializers.append(self._from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op: str, inputs: list[str], **attrs) -> str:
        from onnx import helper

        out = self.fresh(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def operand(self, value) -> str:
        """An input name: a tensor's own, or a constant in the graph's layout."""
        if isinstance(value, Tensor):
            return value.name
        array = np.asarray(value)
        if array.ndim == 4:
            array = array.transpose(0, 3, 1, 2)
        return self.constant(array)


def _nested_jaxpr(eqn):
    """The closed jaxpr of a call-like primitive, else None."""
    if eqn.primitive.name not in _NESTED:
        return None
    for key in ("jaxpr", "call_jaxpr", "fun_jaxpr"):
        sub = eqn.params.get(key)
        if isinstance(sub, jcore.ClosedJaxpr):
            return sub
        if isinstance(sub, jcore.Jaxpr):
            return jcore.ClosedJaxpr(sub, ())
    raise UnsupportedError(f"ONNX export: cannot inline {eqn.primitive.name}")


def _out_shape(eqn) -> tuple[int, ...]:
    return tuple(eqn.outvars[0].aval.shape)


def _spatial_window(params, name: str):
    """(kernel, strides, pads) of a reduce_window over H and W only, else an error."""
    dims, strides = params["window_dimensions"], params["window_strides"]
    padding = params["padding"]
    dilated = any(d != 1 for d in (*params["base_dilation"], *params["window_dilation"]))
    if (len(dims) != 4 or dilated or dims[0] != 1 or dims[3] != 1 or strides[0] != 1
            or strides[3] != 1 or tuple(padding[0]) != (0, 0) or tuple(padding[3]) != (0, 0)):
        raise UnsupportedError(f"ONNX export: {name} is supported over H and W of NHWC only, "
                               f"got {params}")
    pads = [padding[1][0], padding[2][0], padding[1][1], padding[2][1]]
    return list(dims[1:3]), list(strides[1:3]), pads


def _conv(g: _Graph, eqn, lhs, rhs) -> Tensor:
    p = eqn.params
    spec = p["dimension_numbers"]
    if not (isinstance(lhs, Tensor) and not isinstance(rhs, Tensor)):
        raise UnsupportedError("ONNX export: a convolution needs constant weights")
    if (tuple(spec.lhs_spec) != (0, 3, 1, 2) or tuple(spec.out_spec) != (0, 3, 1, 2)
            or tuple(spec.rhs_spec) != (3, 2, 0, 1)):
        raise UnsupportedError(f"ONNX export: convolutions must be NHWC/HWIO, got {spec}")
    if any(d != 1 for d in p["lhs_dilation"]) or p["batch_group_count"] != 1:
        raise UnsupportedError("ONNX export: input-dilated or batch-grouped convolution")
    kernel = np.asarray(rhs).transpose(3, 2, 0, 1)  # HWIO -> OIHW
    (pt, pb), (pl, pr) = p["padding"]
    out = g.node("Conv", [lhs.name, g.constant(kernel, "kernel")],
                 kernel_shape=list(kernel.shape[2:]), strides=list(p["window_strides"]),
                 pads=[pt, pl, pb, pr], dilations=list(p["rhs_dilation"]),
                 group=p["feature_group_count"])
    return Tensor(out, _out_shape(eqn))


def _binary(g: _Graph, eqn, a, b) -> Tensor:
    name = eqn.primitive.name
    if name == "div" and isinstance(a, WindowSum) and not isinstance(b, Tensor):
        divisor = np.asarray(b)
        if divisor.ndim == 4 and np.array_equal(np.broadcast_to(a.counts(), divisor.shape),
                                                divisor):
            kernel, strides, pads = a.window
            return Tensor(g.node("AveragePool", [a.x.name], kernel_shape=kernel,
                                 strides=strides, pads=pads, count_include_pad=0),
                          _out_shape(eqn))
    for x, other in ((a, b), (b, a)):
        if (name == "max" and isinstance(x, Tensor) and not isinstance(other, Tensor)
                and np.all(np.asarray(other) == 0) and np.ndim(other) == 0):
            return Tensor(g.node("Relu", [x.name]), _out_shape(eqn))
    return Tensor(g.node(_BINARY[name], [g.operand(a), g.operand(b)]), _out_shape(eqn))


def _pool(g: _Graph, eqn, x) -> Tensor:
    kernel, strides, pads = _spatial_window(eqn.params, eqn.primitive.name)
    if eqn.primitive.name == "reduce_window_max":
        return Tensor(g.node("MaxPool", [x.name], kernel_shape=kernel, strides=strides,
                             pads=pads), _out_shape(eqn))
    return WindowSum(g, x, (kernel, strides, pads), _out_shape(eqn))


def _axis(rank: int, axis: int) -> int:
    """Where logical axis `axis` of a rank-`rank` value lives in the graph."""
    return _PHYSICAL[axis] if rank == 4 else axis


def _concatenate(g: _Graph, eqn, *values) -> Tensor:
    axis = _axis(len(_out_shape(eqn)), eqn.params["dimension"])
    return Tensor(g.node("Concat", [g.operand(v) for v in values], axis=axis), _out_shape(eqn))


def _reduce_sum(g: _Graph, eqn, x) -> Tensor:
    axes = tuple(eqn.params["axes"])
    kept = [a for a in range(len(x.shape)) if a not in axes]
    physical = [_axis(len(x.shape), a) for a in kept]
    if len(x.shape) == 4 and physical != sorted(physical):
        raise UnsupportedError(f"ONNX export: reduce_sum over {axes} of NHWC changes the "
                               "layout of what remains")
    axes_const = np.array([_axis(len(x.shape), a) for a in axes], np.int64)
    summed = g.node("ReduceSum", [x.name, g.constant(axes_const)], keepdims=0)
    return Tensor(summed, _out_shape(eqn))


def _convert_element_type(g: _Graph, eqn, x) -> Tensor:
    if eqn.params["new_dtype"] == np.float32 and eqn.invars[0].aval.dtype == np.float32:
        return x
    raise UnsupportedError(f"ONNX export: casts to {eqn.params['new_dtype']}")


_RULES: dict[str, Callable] = {
    "conv_general_dilated": _conv,
    **{name: _binary for name in _BINARY},
    "reduce_window_sum": _pool,
    "reduce_window_max": _pool,
    "concatenate": _concatenate,
    "reduce_sum": _reduce_sum,
    "convert_element_type": _convert_element_type,
}


def _evaluate(eqn, values):
    out = eqn.primitive.bind(*values, **eqn.params)
    return [np.asarray(o) for o in out] if eqn.primitive.multiple_results else [np.asarray(out)]


def _run(g: _Graph, closed: jcore.ClosedJaxpr, args: list) -> list:
    env = {}

    def read(var):
        return np.asarray(var.val) if isinstance(var, jcore.Literal) else env[var]

    jaxpr = closed.jaxpr
    for var, value in zip(jaxpr.constvars, closed.consts, strict=True):
        env[var] = np.asarray(value)
    for var, value in zip(jaxpr.invars, args, strict=True):
        env[var] = value
    for eqn in jaxpr.eqns:
        values = [read(v) for v in eqn.invars]
        nested = _nested_jaxpr(eqn)
        if nested is not None:
            outs = _run(g, nested, values)
        elif not any(isinstance(v, Tensor) for v in values):
            outs = _evaluate(eqn, values)  # constant folding, with JAX itself
        elif eqn.primitive.name in _RULES:
            outs = [_RULES[eqn.primitive.name](g, eqn, *values)]
        else:
            raise UnsupportedError(f"ONNX export: no rule for the primitive "
                                   f"{eqn.primitive.name!r}")
        for var, value in zip(eqn.outvars, outs, strict=True):
            env[var] = value
    return [read(v) for v in jaxpr.outvars]


def to_onnx(fn: Callable, example: jax.ShapeDtypeStruct, *, name: str = "genjax",
            doc: str = "") -> bytes:
    """The serialized ONNX model of `fn(x)`, for x of `example`'s shape: an NHWC float32 batch.

    The model has one input "images" of exactly that shape and one output "features".
    """
    from onnx import TensorProto, checker, helper

    if len(example.shape) != 4 or example.dtype != np.float32:
        raise ValueError(f"ONNX export takes an NHWC float32 batch, got {example}")
    closed = jax.make_jaxpr(fn)(example)
    g = _Graph()
    nchw = g.node("Transpose", ["images"], perm=[0, 3, 1, 2])
    (out,) = _run(g, closed, [Tensor(nchw, tuple(example.shape))])
    if not isinstance(out, Tensor):
        raise ValueError("ONNX export: the output does not depend on the input")
    result = out.name
    if len(out.shape) == 4:
        result = g.node("Transpose", [result], perm=[0, 2, 3, 1])
    g.nodes.append(helper.make_node("Identity", [result], ["features"]))
    graph = helper.make_graph(
        g.nodes, name,
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, list(example.shape))],
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, list(out.shape))],
        g.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="genjax", doc_string=doc)
    model.ir_version = 8
    checker.check_model(model, full_check=True)
    return model.SerializeToString()
