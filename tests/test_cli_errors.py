"""Bad input on the command line: one `error:` line, exit status 2, nothing written or lost.

A matrix over every command (every training script and every study) and the
kinds of mistake a user makes: a config field of each type (int, float, string
choice, tuple, path, bool) given with the wrong type, out of range or empty; an
unknown field or flag; a missing config file or --workdir; a workdir that is a
file, holds no run, or holds another kind of run; a run resumed with another
model config; Fashion-MNIST missing or damaged. Each case runs the real command
in a subprocess and asserts: exit status 2, exactly one line of output (stdout
and stderr together, so no C++ start-up logging either) that starts with
`error:` and names the problem, no traceback, and the workdir as it was (absent,
or every file with the same size and modification time).

The cases run two at a time in one module fixture. A bad flag or a bad common
field fails in about 0.2 s, before JAX is imported; a task's own field in about
3 s, before TensorFlow is.
"""

from __future__ import annotations

import concurrent.futures
import gzip
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from genjax.data import offline
from tests.conftest import ROOT

LEGACY = ROOT / "tests" / "data" / "legacy"  # real tiny workdirs (classifier, gan, vae, ...)
NEVER_WRITTEN = "/nonexistent/genjax-enhanced"  # an --output that no failing command creates
CLS, GAN, VAE, DRAW = ("experiments.classifier", "experiments.dcgan", "experiments.vae",
                       "experiments.draw")

# (id, module, workdir kind, extra flags, env kind, expected pattern)
# workdir kinds: fresh (absent), file (an existing file), empty (an empty directory),
# or a copy of a tests/data/legacy workdir: classifier, dcgan, cdcgan, vae.
CASES = [
    # config fields by type: wrong type, out of range, empty
    ("int-type", CLS, "fresh", ["--config.batch_size=abc"], None, r"--config.batch_size=abc"),
    ("int-range", CLS, "fresh", ["--config.batch_size=0"], None, r"batch_size must be a positive"),
    ("int-negative-seed", CLS, "fresh", ["--config.seed=-1"], None, r"seed must be an integer"),
    ("int-range-num-seeds", CLS, "fresh", ["--config.num_seeds=0"], None,
     r"num_seeds must be a positive integer"),
    ("choice-compute-dtype", CLS, "fresh", ["--config.compute_dtype=float16"], None,
     r"compute_dtype must be one of \['float32', 'bfloat16'\], got 'float16' \(float16 needs "
     r"loss scaling"),
    ("int-empty", CLS, "fresh", ["--config.num_train_steps="], None, r"num_train_steps"),
    ("float-type", CLS, "fresh", ["--config.optimizer.lr=abc"], None, r"optimizer\.lr"),
    ("float-range", CLS, "fresh", ["--config.model.dropout=1.5"], None, r"model\.dropout"),
    ("float-range-lr", CLS, "fresh", ["--config.optimizer.lr=-1"], None, r"lr"),
    ("choice-unknown", CLS, "fresh", ["--config.model.name=resnet"], None, r"model\.name"),
    ("choice-empty", CLS, "fresh", ["--config.data.name="], None, r"unknown dataset ''"),
    ("choice-split", CLS, "fresh", ["--config.data.eval_split=valid"], None, r"no split 'valid'"),
    ("tuple-type", CLS, "fresh", ["--config.model.widths=a,b"], None, r"model\.widths"),
    ("tuple-range", CLS, "fresh", ["--config.model.widths=0,8"], None, r"model\.widths"),
    ("tuple-empty", CLS, "fresh", ["--config.model.widths="], None, r"model\.widths"),
    ("bool-type", CLS, "fresh", ["--config.augment.flip=maybe"], None, r"augment\.flip"),
    ("path-missing", CLS, "fresh", ["--config.data.train_arrays=/nonexistent/set.npz"], None,
     r"/nonexistent/set\.npz"),
    ("unknown-field", CLS, "fresh", ["--config.nope=1"], None, r"no field 'nope'"),
    ("unknown-nested-field", CLS, "fresh", ["--config.optimizer.lrr=0.1"], None,
     r"no field 'lrr'; did you mean 'lr'"),
    ("unknown-flag", CLS, "fresh", ["--seed=1"], None, r"Unknown command line flag 'seed'"),
    ("positional", CLS, "fresh", ["extra"], None, r"unexpected arguments"),
    ("config-file-missing", CLS, "fresh", ["--config=experiments/configs/nope.py"], None,
     r"config file experiments/configs/nope\.py cannot be loaded"),
    ("workdir-missing", CLS, None, [], None, r"--workdir"),
    ("workdir-is-file", CLS, "file", [], None, r"is a file, not a directory"),
    ("resume-other-config", CLS, "classifier", ["--config.model.hidden=32"], None,
     r"trained with another config \(.*model\.hidden 16 -> 32"),
    ("gan-loss", GAN, "fresh", ["--config.loss.name=nope"], None, r"loss\.name"),
    ("gan-ema", GAN, "fresh", ["--config.ema_decay=1.0"], None, r"ema_decay"),
    ("gan-n-critic", GAN, "fresh", ["--config.n_critic=0"], None, r"n_critic"),
    ("gan-width", GAN, "fresh", ["--config.model.width=-8"], None, r"model\.width"),
    ("gan-diffaug", GAN, "fresh", ["--config.diffaug_policy=bogus"], None, r"diffaug_policy"),
    ("gan-metric", GAN, "fresh", ["--config.eval_metrics=nope"], None, r"nope"),
    ("gan-resume-width", GAN, "dcgan", ["--config.model.width=8"], None,
     r"trained with another config \(.*model\.width 4 -> 8"),
    ("vae-likelihood", VAE, "fresh", ["--config.likelihood.name=logistic"], None,
     r"data\.image_range"),
    ("vae-beta", VAE, "fresh", ["--config.loss.beta=-1"], None, r"loss\.beta"),
    ("vae-latent", VAE, "fresh", ["--config.model.latent_dim=0"], None, r"model\.latent_dim"),
    ("draw-read", DRAW, "fresh", ["--config.model.read_size=1"], None, r"read_size"),
    ("draw-range", DRAW, "fresh", ["--config.data.image_range=uint8"], None, r"binari"),
    ("pix2pix-pairs", "experiments.pix2pix", "fresh", ["--config.pairs.name=nope"], None,
     r"unknown pairs\.name 'nope'"),
    ("pix2pix-scale", "experiments.pix2pix", "fresh", ["--config.pairs.scale=3"], None,
     r"pairs\.scale=3"),
    ("pix2pix-lambda", "experiments.pix2pix", "fresh", ["--config.loss.l1_weight=-1"], None,
     r"loss\.l1_weight"),
    ("cyclegan-overlap", "experiments.cyclegan", "fresh", ["--config.domains.b=sneaker"], None,
     r"overlap in \['Sneaker'\]"),
    ("cyclegan-class", "experiments.cyclegan", "fresh", ["--config.domains.a=Boot"], None,
     r"'Boot' is not a class of fashion_mnist"),
    ("cyclegan-empty", "experiments.cyclegan", "fresh", ["--config.domains.a="], None,
     r"domains\.a is empty"),
    ("cyclegan-pool", "experiments.cyclegan", "fresh", ["--config.pool_size=-1"], None,
     r"pool_size must be an integer >= 0"),
    ("svg-items", "experiments.svg", "fresh", ["--config.moving.num_items=0"], None,
     r"moving\.num_items \(0\) must be an integer >= 1"),
    ("svg-frame", "experiments.svg", "fresh", ["--config.moving.frame_size=16"], None,
     r"moving\.frame_size \(16\) must be at least the item size \(28\)"),
    ("svg-beta", "experiments.svg", "fresh", ["--config.loss.beta=-1"], None,
     r"loss\.beta must be >= 0"),
    ("svg-cond", "experiments.svg", "fresh", ["--config.num_future=0"], None,
     r"num_cond \(5\) must be fewer than the sequence length"),
    # data: missing (no network here) or damaged
    ("data-missing", CLS, "fresh", [], "no_data", r"fashion_mnist"),
    ("data-damaged", CLS, "fresh", [], "damaged", r"damaged.*dataset-fashion-mnist"),
    # studies
    ("evaluate-no-run", "experiments.evaluate", "empty", [], None, r"has no config\.json"),
    ("evaluate-file", "experiments.evaluate", "file", [], None, r"config\.json"),
    ("evaluate-classifier", "experiments.evaluate", "classifier", [], None,
     r"does not generate images"),
    ("evaluate-metric", "experiments.evaluate", "dcgan", ["--metrics=bogus"], None, r"bogus"),
    ("evaluate-samples", "experiments.evaluate", "dcgan", ["--num_samples=0"], None,
     r"num_samples"),
    ("evaluate-intra", "experiments.evaluate", "dcgan", ["--metrics=intra_fid"], None,
     r"class-conditional"),
    ("evaluate-step", "experiments.evaluate", "dcgan", ["--step=7"], None,
     r"no checkpoint step 7"),
    ("evaluate-int-type", "experiments.evaluate", "dcgan", ["--num_samples=many"], None,
     r"num_samples"),
    ("vae-eval-k", "experiments.vae_eval", "vae", ["--k=0"], None, r"--k"),
    ("vae-eval-gan", "experiments.vae_eval", "dcgan", [], None, r"not a VAE or DRAW"),
    ("cas-classifier", "experiments.cas", "classifier", [], None, r"not class-conditional"),
    ("cas-per-class", "experiments.cas", "cdcgan", ["--num_per_class=0"], None,
     r"num_per_class"),
    ("cas-config-field", "experiments.cas", "cdcgan", ["--config.nope=1"], None,
     r"no field 'nope'"),
    ("study-fraction", "experiments.augmentation_study", "fresh", ["--fractions=2"], None,
     r"fraction"),
    ("study-condition", "experiments.augmentation_study", "fresh", ["--conditions=bogus"], None,
     r"bogus"),
    ("study-seeds", "experiments.augmentation_study", "fresh", ["--seeds=x"], None, r"seeds"),
    ("study-config-field", "experiments.augmentation_study", "fresh",
     ["--gan_config.model.widht=8"], None, r"no field 'widht'; did you mean 'width'"),
    ("losses-variant", "experiments.gan_losses", "fresh", ["--variants=nope"], None, r"nope"),
    ("losses-budget", "experiments.gan_losses", "fresh", ["--budget_seconds=-1"], None,
     r"budget"),
    ("enhance-not-i2i", "experiments.enhance", "dcgan",
     ["--input=tests/data", f"--output={NEVER_WRITTEN}"], None, r"not an image-to-image run"),
    ("enhance-no-run", "experiments.enhance", "empty",
     ["--input=tests/data", f"--output={NEVER_WRITTEN}"], None, r"has no config\.json"),
    ("enhance-no-input", "experiments.enhance", "dcgan", [f"--output={NEVER_WRITTEN}"], None,
     r"--input"),
    ("translate-eval-not-cyclegan", "experiments.translate_eval", "classifier", [], None,
     r"'classifier' run, not a CycleGAN run"),
    ("translate-eval-batch", "experiments.translate_eval", "empty", ["--batch_size=0"], None,
     r"batch_size must be a positive integer"),
    ("video-eval-not-svg", "experiments.video_eval", None,
     [f"--workdirs={LEGACY / 'classifier'}"], None,
     r"'classifier' run; video studies need an SVG run"),
    ("video-eval-samples", "experiments.video_eval", None,
     [f"--workdirs={LEGACY / 'classifier'}", "--num_samples=0"], None,
     r"num_samples must be at least 1"),
    ("video-eval-neither", "experiments.video_eval", None, [], None,
     r"give --workdirs \(runs to score\) or --merge"),
    ("video-eval-merge-missing", "experiments.video_eval", None,
     ["--merge=tests/data", f"--output={NEVER_WRITTEN}"], None,
     r"report\.json does not exist"),
    ("video-generate-not-svg", "experiments.video_generate", "classifier",
     [f"--output={NEVER_WRITTEN}"], None, r"video studies need an SVG run"),
    ("video-generate-frames", "experiments.video_generate", "classifier",
     ["--frames=0", f"--output={NEVER_WRITTEN}"], None, r"--frames must be at least 1"),
    ("compress-not-vae", "experiments.compress", "dcgan",
     ["--split=test", f"--output={NEVER_WRITTEN}"], None, r"the codec needs a VAE run"),
    ("compress-no-source", "experiments.compress", "vae", [f"--output={NEVER_WRITTEN}"], None,
     r"give one of --split and --input"),
    ("compress-step", "experiments.compress", "vae",
     ["--split=test", "--lossy_step=0", f"--output={NEVER_WRITTEN}"], None,
     r"--lossy_step must be a grid step in \[0.001, 8\], got 0.0"),
    ("decompress-missing", "experiments.decompress", "vae",
     ["--input=/nonexistent/file.gjx", f"--output={NEVER_WRITTEN}"], None,
     r"/nonexistent/file.gjx does not exist"),
    ("compression-eval-binary", "experiments.compression_eval", "vae",
     [f"--output={NEVER_WRITTEN}"], None, r"the lossy comparison needs an 8-bit"),
    ("enhance-eval-task", "experiments.enhance_eval", None, ["--task=nope"], None,
     r"unknown task 'nope'"),
    ("enhance-eval-not-i2i", "experiments.enhance_eval", None,
     [f"--pix2pix={LEGACY / 'classifier'}", f"--output={NEVER_WRITTEN}"], None,
     r"'classifier' run, not an image-to-image run"),
    ("enhance-eval-examples", "experiments.enhance_eval", None, ["--num_examples=0"], None,
     r"num_examples must be a positive integer"),
]


def _snapshot(path: Path):
    if not path.exists():
        return None
    if path.is_file():
        stat = path.stat()
        return {"": (stat.st_size, stat.st_mtime_ns)}
    return {str(p.relative_to(path)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(path.rglob("*")) if p.is_file()}


def _workdir(kind: str | None, base: Path) -> Path | None:
    if kind is None:
        return None
    workdir = base / "workdir"
    if kind == "file":
        workdir.write_text("not a workdir\n")
    elif kind == "empty":
        workdir.mkdir()
    elif kind != "fresh":
        shutil.copytree(LEGACY / kind, workdir)
    return workdir


def _env(kind: str | None, base: Path) -> dict:
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # the commands must be quiet on their own
    if kind is None:
        return env
    source, data_dir = base / "fmnist", base / "tfds"
    source.mkdir()
    if kind == "damaged":
        for name in offline.FILES:
            shutil.copy(offline.source_dir() / name, source / name)
        blob = bytearray((source / offline.FILES[0]).read_bytes())
        blob[len(blob) // 2] ^= 0xFF  # one flipped byte: the CRC check fails
        (source / offline.FILES[0]).write_bytes(bytes(blob))
        with pytest.raises(gzip.BadGzipFile):  # the damage is real
            gzip.decompress(bytes(blob))
    return {**env, offline.ENV_DIR: str(source), "GENJAX_DATA_DIR": str(data_dir)}


def _run(case, base: Path):
    name, module, workdir_kind, flags, env_kind, _ = case
    base.mkdir(parents=True)
    workdir = _workdir(workdir_kind, base)
    env = _env(env_kind, base)
    before = _snapshot(workdir) if workdir else None
    args = [sys.executable, "-m", module, *([f"--workdir={workdir}"] if workdir else []), *flags]
    proc = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    after = _snapshot(workdir) if workdir else None
    return proc, before, after


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    base = tmp_path_factory.mktemp("cli")
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        futures = {case[0]: pool.submit(_run, case, base / case[0]) for case in CASES}
        return {name: future.result() for name, future in futures.items()}


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_nothing_written(case, results):
    name, module, _, flags, _, pattern = case
    proc, before, after = results[name]
    output = (proc.stdout + proc.stderr).strip()
    lines = output.splitlines()
    assert "Traceback" not in output, output
    assert len(lines) == 1, f"{module} {flags}: {len(lines)} lines:\n{output}"
    assert lines[0].startswith("error: "), output
    assert re.search(pattern, lines[0]), f"{pattern!r} not in {lines[0]!r}"
    assert proc.returncode == 2, (proc.returncode, output)
    assert after == before  # absent stays absent; an existing workdir is untouched


def test_the_matrix_covers_every_command():
    commands = {p.stem for p in (ROOT / "experiments").glob("*.py")
                if "__main__" in p.read_text()}
    assert commands == {c[1].split(".")[1] for c in CASES}


def test_verbose_shows_the_traceback_of_an_unexpected_error():
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    program = "from experiments import launch; launch.command(lambda: 1 / 0)"
    proc = subprocess.run([sys.executable, "-c", program], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "error: ZeroDivisionError: division by zero (run again with --verbose for the traceback)"]
    proc = subprocess.run([sys.executable, "-c", program, "--verbose"], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr and "ZeroDivisionError" in proc.stderr
