"""SVG (Denton & Fergus 2018): the KL against Monte Carlo, scan against the unrolled loop,
generation that does not depend on the batch or the rollout length, a step that compiles once
and learns on real moving Fashion-MNIST, a bit-for-bit resume, and one-line config errors."""

import importlib
import json
import shutil

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genjax.errors import UserError
from genjax.eval import video_metrics
from genjax.io import checkpoint
from genjax.losses.svg import diagonal_gaussian_kl, svg_loss
from genjax.models.svg import SVG
from genjax.models.svg_rollout import generate, sample_futures, teacher_forced
from genjax.studies import video as study
from genjax.studies import video_report
from genjax.train.loop import fit
from genjax.train.tasks import TASKS, Task
from genjax.train.tasks.svg import SVGTask
from tests.conftest import override

PRIORS = ("learned", "fixed", "none")


def tiny_config(name="svg_lp", **overrides):
    """A real experiment config, shrunk so that a run takes seconds: 32 px, 1 item."""
    c = importlib.import_module(f"experiments.configs.{name}").get_config()
    c.moving.frame_size, c.moving.num_items = 32, 1
    c.num_cond, c.num_future = 2, 3
    c.model.dim, c.model.z_dim, c.model.width, c.model.hidden = 16, 4, 4, 16
    c.batch_size, c.eval_batch_size = 4, 4
    c.eval_num_sequences, c.eval_num_samples, c.eval_num_future = 4, 2, 4
    c.num_train_steps, c.log_every, c.eval_every, c.checkpoint_every = 6, 2, 3, 3
    return override(c, **overrides)


def tiny_model(prior: str) -> tuple[SVG, dict]:
    model = SVG(dim=16, z_dim=4, width=4, hidden=16, prior=prior)
    return model, model.init(jax.random.PRNGKey(0), jnp.zeros((1, 32, 32, 1)))


def test_gradient_energy_by_hand_and_lower_when_blurred():
    frame = np.zeros((4, 4, 1), np.float32)
    frame[1:3, 1:3] = 1.0  # a 2x2 square: 4 unit steps along the rows, 4 along the columns
    assert float(video_metrics.gradient_energy(frame)) == pytest.approx(8 / 16)
    edge = np.zeros((8, 8, 1), np.float32)
    edge[:, 4:] = 1.0
    ramp = np.zeros((8, 8, 1), np.float32)
    ramp[:, 2:7, 0] = np.arange(1, 6) / 5  # the same edge over 5 pixels: 1/5 of the energy
    ramp[:, 7:] = 1.0
    sharp, soft = np.asarray(video_metrics.gradient_energy(np.stack([edge, ramp])))
    assert sharp == pytest.approx(8 / 64) and soft == pytest.approx(sharp / 5)


def test_kl_of_two_diagonal_gaussians_matches_monte_carlo():
    rng = np.random.default_rng(0)
    mean_q, mean_p = rng.normal(size=3), rng.normal(size=3)
    log_var_q, log_var_p = rng.normal(scale=0.5, size=3), rng.normal(scale=0.5, size=3)
    z = mean_q + np.exp(0.5 * log_var_q) * rng.normal(size=(400_000, 3))

    def log_density(z, mean, log_var):
        return -0.5 * (np.log(2 * np.pi) + log_var + (z - mean) ** 2 / np.exp(log_var))

    monte_carlo = np.mean(log_density(z, mean_q, log_var_q) - log_density(z, mean_p, log_var_p),
                          axis=0)
    exact = np.asarray(diagonal_gaussian_kl(mean_q, log_var_q, mean_p, log_var_p))
    standard_error = np.std(log_density(z, mean_q, log_var_q)
                            - log_density(z, mean_p, log_var_p), axis=0) / np.sqrt(len(z))
    assert np.all(np.abs(monte_carlo - exact) < 4 * standard_error), (monte_carlo, exact)
    assert np.all(exact > 0)
    np.testing.assert_allclose(diagonal_gaussian_kl(mean_q, log_var_q, mean_q, log_var_q), 0,
                               atol=1e-7)


@pytest.mark.parametrize("prior", PRIORS)
def test_scan_equals_the_unrolled_loop(prior):
    model, variables = tiny_model(prior)
    frames = jax.random.uniform(jax.random.PRNGKey(1), (2, 5, 32, 32, 1))
    noise = jax.random.normal(jax.random.PRNGKey(2), (4, 2, 4))
    scanned = teacher_forced(variables, frames, noise, model=model, num_cond=2)
    unrolled = teacher_forced(variables, frames, noise, model=model, num_cond=2, unroll=True)
    assert set(scanned) == {"frames", "posterior", "prior"} - (
        {"prior"} if prior != "learned" else set()) - ({"posterior"} if prior == "none" else set())
    chex.assert_trees_all_close(scanned, unrolled, atol=1e-6)
    keys = jax.random.split(jax.random.PRNGKey(3), 2)
    a = generate(variables, frames[:, :2], keys, model=model, num_frames=6)
    b = generate(variables, frames[:, :2], keys, model=model, num_frames=6, unroll=True)
    np.testing.assert_allclose(a, b, atol=1e-6)
    np.testing.assert_array_equal(a[:, :2], frames[:, :2])  # conditioning frames kept


@pytest.mark.parametrize("prior", PRIORS)
def test_futures_do_not_depend_on_the_batch_or_the_rollout_length(prior):
    model, variables = tiny_model(prior)
    cond = jax.random.uniform(jax.random.PRNGKey(1), (3, 2, 32, 32, 1))
    keys = jax.random.split(jax.random.PRNGKey(3), 3)
    futures = sample_futures(variables, cond, keys, model=model, num_frames=6, num_samples=4)
    assert futures.shape == (3, 4, 6, 32, 32, 1)
    alone = sample_futures(variables, cond[1:2], keys[1:2], model=model, num_frames=9,
                           num_samples=4)
    np.testing.assert_allclose(alone[0, :, :6], futures[1], atol=2e-6)
    spread = float(jnp.std(futures[:, :, 2:], axis=1).max())
    if prior == "none":
        assert spread == 0.0  # no z: every sample is the same future
    else:
        assert spread > 1e-4  # the samples differ
    assert float(futures.min()) >= 0.0 and float(futures.max()) <= 1.0


def test_loss_is_mse_plus_beta_kl_summed_over_steps():
    model, variables = tiny_model("learned")
    frames = jax.random.uniform(jax.random.PRNGKey(1), (2, 4, 32, 32, 1))
    rng = jax.random.PRNGKey(5)
    loss, (metrics, _) = svg_loss(variables["params"], None, {"frames": frames}, rng,
                                  model=model, num_cond=2, beta=0.5)
    out = teacher_forced(variables, frames, jax.random.normal(rng, (3, 2, 4)), model=model,
                         num_cond=2)
    mse = np.mean((np.asarray(out["frames"]) - np.asarray(frames[:, 1:])) ** 2, axis=(2, 3, 4))
    kl = np.sum(diagonal_gaussian_kl(*out["posterior"], *out["prior"]), axis=-1)  # (3, 2)
    expected = mse.mean(0).sum() + 0.5 * kl.mean(1).sum()
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    np.testing.assert_allclose(metrics["mse"], mse.mean(), rtol=1e-5)
    np.testing.assert_allclose(metrics["kl"], kl.mean(), rtol=1e-5)
    _, (det, _) = svg_loss(tiny_model("none")[1]["params"], None, {"frames": frames}, rng,
                           model=tiny_model("none")[0], num_cond=2, beta=0.5)
    assert float(det["kl"]) == 0.0


def test_step_compiles_once_and_learns_on_real_moving_items():
    task = SVGTask(tiny_config(**{"num_train_steps": 40}))
    state = task.init_state(jax.random.PRNGKey(0))

    @chex.assert_max_traces(n=1)
    def traced_step(state, batch):
        return task.train_step(state, batch)

    step, batches, history = jax.jit(traced_step, donate_argnums=0), task.train_batches(0), []
    black = []  # the MSE of predicting all-black frames, on the same batches
    for _ in range(40):
        batch = next(batches)
        black.append(np.mean(batch["frames"][:, 1:] ** 2))
        state, metrics = step(state, batch)
        history.append(jax.device_get(metrics))
    mse = [m["mse"] for m in history]
    assert np.mean(mse[-5:]) < 0.6 * np.mean(mse[:3]), mse
    assert np.mean(mse[-5:]) < 0.8 * np.mean(black[-5:]), (mse[-5:], black[-5:])
    assert all(np.isfinite(m["loss"]) and m["kl"] >= 0 for m in history)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("svg") / "straight"
    fit(tiny_config(), workdir)
    return workdir


def test_fit_logs_per_step_scores_and_gifs_and_resumes_bit_for_bit(run_dir, tmp_path):
    config, run = tiny_config(), run_dir
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["step_000003.gif",
                                                                  "step_000006.gif"]
    assert (run / "samples.gif").is_file() and (run / "samples.png").is_file()
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in records if "eval/ssim_best" in r]
    assert [r["step"] for r in evals] == [3, 6]
    for r in evals:
        assert r["eval/ssim_best"] >= r["eval/ssim_mean"] - 1e-9
        assert r["eval/psnr_best"] >= r["eval/psnr_mean"] - 1e-9
        assert 0 < r["eval/psnr_mean"] < 80
    shutil.copytree(run, tmp_path / "resumed")
    shutil.rmtree(tmp_path / "resumed" / "checkpoints" / "6")
    fit(config, tmp_path / "resumed")
    template = SVGTask(config).init_state(jax.random.PRNGKey(config.seed))
    straight, step_a, resumed, step_b = (
        value for path in (run, tmp_path / "resumed") for value in checkpoint.restore_latest(
            checkpoint.make_manager(path / "checkpoints"), template))
    assert step_a == step_b == 6
    for a, b in zip(jax.tree.leaves(jax.device_get(straight)),
                    jax.tree.leaves(jax.device_get(resumed)), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", ["svg_lp", "svg_fp", "svg_det"])
def test_experiment_configs_build(name):
    task = TASKS["svg"](importlib.import_module(f"experiments.configs.{name}").get_config())
    assert isinstance(task, Task)
    assert task.model.prior == {"svg_lp": "learned", "svg_fp": "fixed", "svg_det": "none"}[name]


@pytest.mark.parametrize("overrides,message", [
    ({"num_future": 0}, r"num_cond \(2\) must be fewer than the sequence length num_cond \+ "
                        r"num_future \(2\)"),
    ({"num_cond": 0}, "num_cond must be a positive integer"),
    ({"moving.num_items": 0}, r"moving.num_items \(0\) must be an integer >= 1"),
    ({"moving.frame_size": 16}, r"moving.frame_size \(16\) must be at least the item size"),
    ({"loss.beta": -1e-4}, "loss.beta must be >= 0"),
    ({"moving.frame_size": 48}, r"moving.frame_size must be 4 \* 2\^k"),
    ({"model.prior": "gaussian"}, "unknown model.prior 'gaussian'"),
    ({"model.z_dim": 0}, "model.z_dim must be a positive integer"),
    ({"eval_num_samples": 0}, "eval_num_samples must be a positive integer"),
])
def test_bad_svg_config_is_one_user_error(overrides, message):
    with pytest.raises(UserError, match=message) as error:
        SVGTask(tiny_config(**overrides))
    assert "\n" not in str(error.value)


@pytest.fixture(scope="module")
def loaded(run_dir):
    """The run loaded once: the study tests below share its compiled sampler (one shape:
    2 sequences a batch, 4 samples, 7 frames)."""
    return study.load_video_run(run_dir)


def test_quality_report_scores_every_predicted_step_best_above_mean(loaded, tmp_path):
    report = study.quality_report([loaded], num_sequences=3, num_samples=4, num_future=5,
                                  batch_size=2, output=tmp_path / "eval")
    curves = report["methods"]["SVG-LP"]["curves"]
    assert all(len(v) == 5 for v in curves.values())
    # "best" is the sample best over the whole future: above the mean on average over the
    # steps (at a single step another sample may score higher).
    assert np.mean(curves["ssim_best"]) >= np.mean(curves["ssim_mean"]) - 1e-9
    assert np.mean(curves["psnr_best"]) >= np.mean(curves["psnr_mean"]) - 1e-9
    assert all(0 < p < 80 for p in curves["psnr_mean"])
    # The same futures scored by hand: sequence 1, sample by sample, now sampled first in
    # its batch (the report had it second).
    test = loaded.task.test_set(3, 7)
    futures = loaded.task.futures(loaded.state.params, test["frames"][1:3, :2], np.array([1, 2]),
                                  num_frames=7, num_samples=4)
    ssim = np.asarray(video_metrics.frame_scores(test["frames"][1:3], futures)["ssim"])[0, :, 2:]
    again = study.sampled_scores(loaded, num_sequences=3, num_samples=4, num_future=5,
                                 batch_size=2)[0]
    np.testing.assert_allclose(again["ssim_mean"][1], ssim.mean(0), rtol=1e-5)
    np.testing.assert_allclose(again["ssim_best"][1], ssim[np.argmax(ssim.mean(1))], rtol=1e-5)
    # Sharpness: gradient energy by hand, the true frames' and the samples' (mean over them).
    frames = np.asarray(test["frames"][1, 2:], np.float64)
    by_hand = (np.square(np.diff(frames, axis=1)).sum((1, 2, 3))
               + np.square(np.diff(frames, axis=2)).sum((1, 2, 3))) / frames[0].size
    np.testing.assert_allclose(again["energy_truth"][1], by_hand, rtol=1e-5)
    np.testing.assert_allclose(
        again["energy_mean"][1],
        np.asarray(video_metrics.gradient_energy(futures[0, :, 2:])).mean(0), rtol=1e-5)
    assert np.all(np.asarray(curves["energy_truth"]) > 0)
    assert {p.name for p in (tmp_path / "eval").iterdir()} == {
        "psnr.png", "ssim.png", "sharpness.png", "svg_lp.gif", "svg_lp.png", "report.json"}
    assert "| SVG-LP | " in video_report.format_sharpness_table(report)
    assert "| SVG-LP | best of 4 |" in video_report.format_quality_table(report)
    assert report["methods"]["SVG-LP"]["num_samples"] == 4
    # The deterministic model's futures are all the same: it is sampled once.
    assert study.samples_for(loaded._replace(config=tiny_config("svg_det")), 100) == 1


def test_merged_reports_equal_the_report_of_all_runs_and_reject_other_settings(loaded, tmp_path):
    first = study.quality_report([loaded], num_sequences=2, num_samples=4, num_future=5,
                                 batch_size=2, output=tmp_path / "lp")
    # A second evaluation, as another model's would be: the same settings, another method.
    second = json.loads((tmp_path / "lp" / "report.json").read_text())
    second["methods"] = {"SVG-FP": second["methods"]["SVG-LP"]}
    (tmp_path / "fp").mkdir()
    (tmp_path / "fp" / "report.json").write_text(json.dumps(second))
    merged = video_report.merge_reports([tmp_path / "lp", tmp_path / "fp"], tmp_path / "both")
    assert list(merged["methods"]) == ["SVG-LP", "SVG-FP"]
    assert merged["methods"]["SVG-LP"] == json.loads(json.dumps(first["methods"]["SVG-LP"]))
    assert {p.name for p in (tmp_path / "both").iterdir()} == {
        "psnr.png", "ssim.png", "sharpness.png", "svg_lp.gif", "svg_lp.png"}
    table = video_report.format_report(merged)
    assert "| SVG-LP | best of 4 |" in table and "| SVG-FP | best of 4 |" in table
    with pytest.raises(UserError, match="SVG-LP is in two of the reports"):
        video_report.merge_reports([tmp_path / "lp", tmp_path / "lp"], tmp_path / "never")
    second["num_samples"] = 5
    (tmp_path / "fp" / "report.json").write_text(json.dumps(second))
    with pytest.raises(UserError, match="num_samples=5"):
        video_report.merge_reports([tmp_path / "lp", tmp_path / "fp"], tmp_path / "never")
    assert not (tmp_path / "never").exists()


def test_identity_report_classifies_true_frames_and_predictions(loaded):
    report = study.identity_report(loaded, num_sequences=4, num_samples=4, steps=(1, 5),
                                   batch_size=2)
    assert report["steps"] == [1, 5] and report["trained_items"] == 1
    assert report["num_samples"] == 4
    assert all(0 <= a <= 1 for a in report["accuracy"] + report["accuracy_located"])
    assert min(report["true_frames_accuracy"]) >= 0.5  # the classifier reads real items
    assert min(report["true_frames_accuracy_located"]) >= 0.5  # and finds them
    assert "| true frames (ceiling), located |" in video_report.format_identity_table([report])


def test_generate_writes_futures_of_test_or_user_frames_and_rejects_bad_input(loaded, tmp_path):
    out = study.user_futures(loaded, None, num=3, num_frames=7, num_samples=4, batch_size=2,
                             output=tmp_path / "test")
    futures = np.load(out / "futures.npy")
    assert futures.shape == (3, 4, 7, 32, 32, 1)
    test = loaded.task.test_set(3, 7)
    np.testing.assert_array_equal(futures[:, :, :2], np.repeat(test["frames"][:, None, :2], 4, 1))
    assert (out / "futures.gif").is_file() and (out / "futures.png").is_file()
    own = (np.asarray(test["frames"][:, :4]) * 255).round().astype(np.uint8)[..., 0]
    out = study.user_futures(loaded, own, num=5, num_frames=7, num_samples=4, batch_size=2,
                             output=tmp_path / "own")
    np.testing.assert_allclose(np.load(out / "futures.npy")[:, 0, :2], test["frames"][:, :2],
                               atol=1 / 255)
    for frames, frame_count, message in [
            (own[:, :1], 6, r"reads 2 conditioning frames; the input has 1"),
            (own[:, :, :16], 6, r"frames must be \(N, T, 32, 32\)"),
            (own.astype(np.float32), 6, r"float frames must be finite and in \[0, 1\]"),
            (own, 2, r"--frames \(2\) must be more than the 2 conditioning frames")]:
        with pytest.raises(UserError, match=message):
            study.user_futures(loaded, frames, num=2, num_frames=frame_count,
                               output=tmp_path / "bad")
    assert not (tmp_path / "bad").exists()
    with pytest.raises(UserError, match="video studies need an SVG run"):
        study.user_futures(loaded._replace(task=object()), None, num=1, num_frames=7,
                           output=tmp_path / "bad")
