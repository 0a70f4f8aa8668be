"""The enhancement study, with values: classical baselines on hand cases, compare_methods on a
tiny trained pix2pix run (identity PSNR by hand, the run's own eval PSNR reproduced), and the
enhance command end to end and on bad input (one line, exit 2, nothing written)."""

import concurrent.futures
import importlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from genjax import data
from genjax.data import pairs
from genjax.errors import UserError
from genjax.eval import classical
from genjax.eval import metrics as eval_metrics
from genjax.studies import enhance
from genjax.studies.enhancement import TASKS, compare_methods, format_table
from genjax.train.loop import fit
from genjax.train.runs import load_run
from tests.conftest import ROOT
from tests.test_pix2pix import tiny_config

N = 200


def test_classical_methods_on_hand_cases():
    flat = np.full((2, 7, 7, 1), 0.4, np.float32)
    np.testing.assert_allclose(classical.bicubic(flat, 4), 0.4, atol=1e-6)
    assert classical.bicubic(flat, 4).shape == (2, 28, 28, 1)
    salted = np.full((1, 9, 9, 1), 0.25, np.float32)
    salted[0, 4, 4] = 1.0
    np.testing.assert_array_equal(classical.median_filter(salted, 3), 0.25)
    np.testing.assert_allclose(classical.gaussian_filter(flat, 1.0), 0.4, atol=1e-6)
    np.testing.assert_allclose(classical.tv_chambolle(flat, 0.1), 0.4, atol=1e-6)
    holes = np.zeros((1, 28, 28), bool)
    holes[0, 7:21, 7:21] = True
    cut = np.where(holes[..., None], 0.0, 0.3).astype(np.float32)
    np.testing.assert_allclose(classical.biharmonic(cut, holes), 0.3, atol=1e-5)
    # nearest from the block means gives back the pairs' input exactly
    images = data.load_split("fashion_mnist", "test")[0][:8]
    upsampled = pairs.degrade("super_resolution", images, None, {"scale": 4})
    np.testing.assert_array_equal(classical.nearest(classical.low_resolution(upsampled, 4), 4),
                                  upsampled)
    # PSNR by hand: an offset of 0.1 is 20 dB; tuning on noisy flat images prefers more blur
    np.testing.assert_allclose(classical.psnr(flat + 0.1, flat), 20.0, rtol=1e-5)
    noisy = np.clip(0.5 + 0.2 * np.random.default_rng(0).standard_normal((4, 28, 28, 1)), 0, 1)
    method = classical.baselines("denoise_gaussian", {"sigma": 0.2})["gaussian"]
    best, scores = classical.tune(method, noisy, np.full_like(noisy, 0.5), grid=(0.5, 1.0, 2.0))
    assert best == 2.0 and scores[0.5] < scores[1.0] < scores[2.0]
    assert set(classical.baselines("edges", {})) == set()
    assert set(classical.baselines("inpaint_box", {})) == {"biharmonic"}


def test_task_names_match_the_experiment_configs():
    for name, (pair_name, options) in TASKS.items():
        c = importlib.import_module(f"experiments.configs.pix2pix_{name}").get_config()
        assert c.pairs.name == pair_name
        assert {k: c.pairs[k] for k in pairs.PAIRS[pair_name].options} == options


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("sr4") / "run"
    fit(tiny_config(**{"num_train_steps": 20, "eval_every": 20, "checkpoint_every": 20}),
        workdir)
    return workdir


def test_compare_methods_scores_every_method_on_the_same_pairs(run_dir, tmp_path):
    results = compare_methods("sr4", workdirs={"pix2pix": run_dir}, num_examples=N,
                              batch_size=100, output=tmp_path / "cmp")
    rows = results["methods"]
    assert list(rows) == ["identity", "bicubic", "nearest", "pix2pix"]
    images, labels = data.load_split("fashion_mnist", "test")
    small = images[:N].reshape(N, 7, 4, 7, 4, 1).astype(np.float64).mean(axis=(2, 4)) / 255
    hand = np.repeat(np.repeat(small, 4, 1), 4, 2)
    mse = np.mean((hand - images[:N] / 255) ** 2, axis=(1, 2, 3))
    assert rows["identity"]["psnr"] == pytest.approx(np.mean(10 * np.log10(1 / mse)), rel=1e-5)
    for metric in ("psnr", "ssim", "classifier_fd", "accuracy"):
        assert rows["nearest"][metric] == rows["identity"][metric]
        for row in rows.values():
            assert np.isfinite(row[metric]) and row["seconds"] >= 0
    assert all(0 <= row["accuracy"] <= 1 for row in rows.values())
    assert rows["identity"]["classifier_fd"] > 0 and rows["pix2pix"]["step"] == 20
    assert 0.8 < results["real_accuracy"] <= 1  # the shipped classifier on clean images
    assert json.loads((tmp_path / "cmp.json").read_text())["methods"]["bicubic"] == pytest.approx(
        rows["bicubic"])
    table = (tmp_path / "cmp.md").read_text()
    assert table == format_table(results) + "\n"
    # The grid: a row per example (8), columns input | bicubic | nearest | pix2pix | target,
    # 28-px tiles with a 2-px border; its first tile is the degraded input of example 0.
    assert results["grid_columns"] == ["input", "bicubic", "nearest", "pix2pix", "target"]
    grid = np.asarray(Image.open(tmp_path / "cmp.png"))
    assert grid.shape == (8 * 30 + 2, 5 * 30 + 2)
    np.testing.assert_allclose(grid[2:30, 2:30] / 255, hand[0, ..., 0], atol=0.5 / 255 + 1e-6)
    assert all(f"| {name} | " in table for name in rows)
    # The run's own last evaluation (the same 48 eval pairs, the same G) is reproduced.
    logged = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    last = [r for r in logged if "eval/psnr" in r][-1]
    again = compare_methods("sr4", workdirs={"pix2pix": run_dir}, classical=False,
                            num_examples=48, batch_size=32, metrics=("psnr", "ssim"))["methods"]
    assert again["pix2pix"]["psnr"] == pytest.approx(last["eval/psnr"], rel=1e-5)
    assert again["identity"]["ssim"] == pytest.approx(last["eval/input_ssim"], rel=1e-5)
    with pytest.raises(UserError, match="not the fashion_mnist super_resolution {'scale': 2}"):
        compare_methods("sr2", workdirs={"pix2pix": run_dir}, num_examples=N)
    with pytest.raises(UserError, match="unknown or no metrics"):
        compare_methods("sr4", metrics=("bogus",))


def test_fid_is_opt_in_per_method_matches_evaluate_and_is_cached():
    n = 8
    with pytest.raises(UserError, match=r"fid names \['bicubic'\], which are not methods"):
        compare_methods("sr4", classical=False, num_examples=n, fid=("bicubic",))
    rows = compare_methods("sr4", num_examples=n, batch_size=n, metrics=("psnr",),
                           fid=("identity",))["methods"]
    assert "fid" in rows["identity"] and "fid" not in rows["bicubic"]
    images = data.load_split("fashion_mnist", "test")[0]
    outputs = pairs.eval_pairs("super_resolution", images, {"scale": 4}, n)["input"]
    net = eval_metrics.feature_net("inception")
    key = eval_metrics.array_key("fashion_mnist-test-outputs", outputs)
    cached = np.load(eval_metrics._cache_path(key, net))
    fresh = eval_metrics.features(outputs, net, num_samples=n, batch_size=n)
    np.testing.assert_allclose(cached, fresh, rtol=1e-4, atol=1e-4)
    expected = eval_metrics.evaluate(outputs, dataset="fashion_mnist", num_samples=n,
                                     metrics=("fid",), batch_size=n)["fid"]
    assert rows["identity"]["fid"] == pytest.approx(expected, rel=1e-3) and expected > 0


def _enhance(workdir, source, output):
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    return subprocess.run([sys.executable, "-m", "experiments.enhance", f"--workdir={workdir}",
                           f"--input={source}", f"--output={output}"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_enhance_command_end_to_end_and_its_errors(run_dir, tmp_path):
    rng = np.random.default_rng(3)
    good, empty = tmp_path / "good", tmp_path / "empty"
    good.mkdir(), empty.mkdir()
    low = rng.integers(0, 256, (7, 7), dtype=np.uint8)
    Image.fromarray(low).save(good / "low.png")
    Image.fromarray(np.stack([low.repeat(2, 0).repeat(2, 1)] * 3, -1)).save(good / "rgb_gray.png")
    Image.fromarray(rng.integers(0, 256, (7, 7, 3), dtype=np.uint8)).save(tmp_path / "rgb.png")
    cases = {"good": good, "rgb": tmp_path / "rgb.png", "empty": empty,
             "missing": tmp_path / "missing"}
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        futures = {k: pool.submit(_enhance, run_dir, v, tmp_path / f"out_{k}")
                   for k, v in cases.items()}
        procs = {k: f.result() for k, f in futures.items()}
    assert procs["good"].returncode == 0, procs["good"].stderr
    outputs = {p.name: np.asarray(Image.open(p)) for p in (tmp_path / "out_good").iterdir()}
    assert sorted(outputs) == ["low.png", "rgb_gray.png"]
    assert all(o.shape == (28, 28) and o.dtype == np.uint8 for o in outputs.values())
    # the same as translating the pairs-built input here (14x14 gray RGB: box-shrunk to 7x7)
    run = load_run(run_dir)
    inputs = pairs.to_model_range(pairs.upsample_nearest(low[None, ..., None] / np.float32(255),
                                                          4))
    assert np.array_equal(enhance.model_inputs(run.config, [low / np.float32(255)] * 2),
                          np.repeat(inputs, 2, 0))
    mine = enhance.translate_all(run.task, run.state, np.repeat(inputs, 2, 0), 2)[0, ..., 0]
    expected = np.round((np.clip(mine, -1, 1) + 1) * 127.5)
    assert np.abs(outputs["low.png"] - expected).max() <= 1
    assert np.abs(outputs["rgb_gray.png"].astype(int) - outputs["low.png"]).max() <= 1
    for name, pattern in (("rgb", "colour image"), ("empty", "holds no .png files"),
                          ("missing", "does not exist")):
        lines = (procs[name].stdout + procs[name].stderr).strip().splitlines()
        assert procs[name].returncode == 2 and len(lines) == 1, (name, lines)
        assert lines[0].startswith("error: ") and pattern in lines[0], lines
        assert not (tmp_path / f"out_{name}").exists()


def test_classical_denoisers_are_tuned_on_training_pairs(monkeypatch):
    monkeypatch.setattr("genjax.studies.enhancement.TUNE_EXAMPLES", 40)
    rows = compare_methods("denoise_sp", num_examples=60, batch_size=60,
                           metrics=("psnr",))["methods"]
    assert list(rows) == ["identity", "gaussian", "median", "tv_chambolle"]
    for name in ("gaussian", "median", "tv_chambolle"):
        tuned = {float(k): v for k, v in rows[name]["tune_psnr"].items()}
        assert rows[name]["value"] == max(tuned, key=tuned.get)
        assert rows[name]["psnr"] > rows["identity"]["psnr"]
    assert rows["median"]["value"] == 3  # the 3x3 median: the classic for impulse noise
