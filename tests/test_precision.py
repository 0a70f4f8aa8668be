"""Mixed precision (`config.compute_dtype = "bfloat16"`, genjax/models/precision.py).

Every family's training step, traced under the policy, runs its convolutions and
matmuls in bfloat16 while the parameters, optimizer state and loss stay float32.
Measured on this CPU (the first step from the same state and batch, bfloat16 against
float32): the losses agreed to a relative 3.3e-4 or better in every family (classifier
3.3e-4, DCGAN 2.2e-4, CycleGAN 1.4e-4, SVG 8.4e-5, the others less). The check is
4e-3, about one bfloat16 ulp (2^-8). Over 300 steps of the test-sized classifier, the
mean loss of the last 50 steps was 1.1925 in bfloat16 against 1.1841 in float32 (from
2.32 at the start): a gap of 0.0084 (checked: 0.05).
"""

import jax
import numpy as np
import pytest

from genjax.config import with_fields
from genjax.errors import UserError
from genjax.io.writers import read_jsonl
from genjax.models import precision
from genjax.train.loop import fit
from genjax.train.runs import load_run
from genjax.train.tasks import make_task
from tests.conftest import tiny_classifier_config
from tests.test_cgan import tiny_cgan_config
from tests.test_cyclegan import tiny_config as tiny_cyclegan_config
from tests.test_draw import tiny_draw_config
from tests.test_gan_train import tiny_gan_config
from tests.test_pix2pix import tiny_config as tiny_pix2pix_config
from tests.test_svg import tiny_config as tiny_svg_config
from tests.test_vae import tiny_vae_config

FAMILIES = {
    "classifier": tiny_classifier_config, "dcgan": tiny_gan_config, "cdcgan": tiny_cgan_config,
    "vae": tiny_vae_config, "draw": tiny_draw_config, "pix2pix": tiny_pix2pix_config,
    "cyclegan": tiny_cyclegan_config, "svg": tiny_svg_config,
}
LOSS_NAMES = ("loss", "g_loss", "d_loss")
RUN_FAMILIES = ("classifier", "dcgan", "draw")  # BatchNorm, transposed convolutions, LSTMs
TRACKING = 0.05  # the late-loss gap allowed between bfloat16 and float32 (measured: see top)


def _ops(hlo: str, dtype: str) -> dict[str, int]:
    """How many convolutions and dot products in the lowered step produce `dtype`."""
    counts = {"convolution": 0, "dot_general": 0}
    for line in hlo.splitlines():
        for op in counts:
            if f"stablehlo.{op}" in line and line.rstrip().endswith(f"x{dtype}>"):
                counts[op] += 1
    return counts


@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_steps_in_bfloat16_with_float32_state_and_loss(family):
    """All 8 families: the lowered bf16 step (no compilation). RUN_FAMILIES also run it
    against float32 from the same state and batch; the others' first-step gaps were
    measured once (top of this file), to keep the suite's time down."""
    task = make_task(FAMILIES[family]())
    state = task.init_state(jax.random.PRNGKey(0))
    batch = next(task.train_batches(0))
    assert precision.with_compute_dtype(task.train_step, "float32") is task.train_step
    lowered = jax.jit(precision.with_compute_dtype(task.train_step, "bfloat16")).lower(
        state, batch)
    low, high = _ops(lowered.as_text(), "bf16"), _ops(lowered.as_text(), "f32")
    assert low["convolution"] + low["dot_general"] > 0, family
    if family != "draw":  # DRAW's attention filterbanks are plain einsums: float32
        assert high["convolution"] == high["dot_general"] == 0, (family, high)
    out_state, out_metrics = lowered.out_info
    assert jax.tree.map(lambda x: x.dtype, out_state) == jax.tree.map(lambda x: x.dtype, state)
    assert all(m.dtype == np.float32 for m in jax.tree.leaves(out_metrics))
    if family not in RUN_FAMILIES:
        return
    ref_state, ref_metrics = jax.jit(task.train_step)(state, batch)
    new_state, metrics = lowered.compile()(state, batch)
    for name, ref in ref_metrics.items():
        value = np.asarray(metrics[name])
        assert np.isfinite(value).all(), name
        if name in LOSS_NAMES:
            np.testing.assert_allclose(value, ref, rtol=4e-3, err_msg=f"{family} {name}")
    assert jax.tree.map(lambda x: x.dtype, new_state) == jax.tree.map(lambda x: x.dtype,
                                                                      ref_state)


def test_bfloat16_training_tracks_float32_over_300_steps():
    """The tiny classifier from one init on the same batches, once per compute dtype."""
    task = make_task(tiny_classifier_config(num_train_steps=300))
    initial = task.init_state(jax.random.PRNGKey(0))
    losses = {}
    for dtype in ("float32", "bfloat16"):
        step = jax.jit(precision.with_compute_dtype(task.train_step, dtype))
        state, batches, losses[dtype] = initial, task.train_batches(0), []
        for _ in range(300):
            state, metrics = step(state, next(batches))
            losses[dtype].append(float(metrics["loss"]))
    late = {dtype: float(np.mean(values[-50:])) for dtype, values in losses.items()}
    assert late["bfloat16"] < np.mean(losses["float32"][:10]) - 1.0  # it trained
    assert abs(late["bfloat16"] - late["float32"]) < TRACKING, late


def test_fit_trains_in_the_configured_dtype_and_a_run_may_switch_on_resume(tmp_path,
                                                                           monkeypatch):
    wrapped = []
    real = precision.with_compute_dtype
    monkeypatch.setattr(precision, "with_compute_dtype",
                        lambda fn, dtype: wrapped.append(dtype) or real(fn, dtype))
    config = tiny_classifier_config(num_train_steps=10, eval_every=10, checkpoint_every=10)
    fit(config, tmp_path)
    fit(with_fields(config, num_train_steps=20, compute_dtype="bfloat16"), tmp_path)
    assert wrapped == ["float32", "bfloat16"]
    run = load_run(tmp_path)  # the checkpoint is the same float32 pytree either way
    assert run.step == 20
    assert {x.dtype for x in jax.tree.leaves(jax.device_get(run.state))} <= {
        np.dtype("float32"), np.dtype("int32"), np.dtype("uint32")}
    losses = [r["train/loss"] for r in read_jsonl(tmp_path / "metrics.jsonl")
              if "train/loss" in r]
    assert len(losses) == 4 and np.isfinite(losses).all()


@pytest.mark.parametrize("value", ["float16", "bf16", ""])
def test_an_unknown_compute_dtype_is_a_one_line_error_before_anything_is_written(value,
                                                                                  tmp_path):
    with pytest.raises(UserError, match="compute_dtype must be one of") as err:
        fit(with_fields(tiny_classifier_config(), compute_dtype=value), tmp_path / "run")
    assert "\n" not in str(err.value) and not (tmp_path / "run").exists()
    if value == "float16":
        assert "loss scaling" in str(err.value)
