"""The VAE codec: equal-mass latent buckets, an exact BB-ANS round trip on a trained tiny model
(8-bit and binarised), a file size close to the negative ELBO, the lossy grid, and a one-line
error with nothing written for each damaged or foreign file."""

import os
import struct
import zlib

import jax
import numpy as np
import pytest
from scipy import stats

from genjax.codec import bbans, container, files, lossy
from genjax.errors import UserError
from genjax.studies import compression
from genjax.train.loop import fit
from genjax.train.runs import load_run
from genjax.train.tasks.vae import VAETask
from tests.conftest import tiny_likelihood_config


def tiny_codec_config(name="vae_8bit", **overrides):
    """The real VAE config, shrunk: 8 latents, widths 8-16, 80 steps."""
    import importlib

    config = importlib.import_module(f"experiments.configs.{name}").get_config()
    config.model.latent_dim = 8
    config.model.widths = (8, 16)
    config.model.hidden = 64
    config.eval_batch_size = 1000
    return tiny_likelihood_config(config, iwae_samples=4, iwae_chunk_size=4,
                                  **{"num_train_steps": 80, "eval_every": 80,
                                     "checkpoint_every": 80, **overrides})


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A tiny 8-bit (discretised logistic) VAE trained 80 steps on real Fashion-MNIST."""
    workdir = tmp_path_factory.mktemp("codec") / "vae_8bit"
    fit(tiny_codec_config(), workdir)
    return workdir


@pytest.fixture(scope="module")
def codec(run_dir):
    return compression.load_codec(run_dir)


def test_buckets_have_equal_prior_mass_and_posterior_masses_are_exact():
    k = 256
    edges = bbans.bucket_edges(k)
    assert edges[0] == -np.inf and edges[-1] == np.inf
    np.testing.assert_allclose(np.diff(stats.norm.cdf(edges)), 1.0 / k, rtol=1e-9)
    centres = bbans.bucket_centres(k)
    assert np.all((edges[:-1] < centres) & (centres < edges[1:]))
    np.testing.assert_allclose(stats.norm.cdf(centres), (np.arange(k) + 0.5) / k, rtol=1e-5)
    # q = N(0, 1) puts the prior's mass, 1/K, in every bucket.
    probs = np.asarray(bbans.posterior_bucket_probs(np.zeros(3), np.zeros(3),
                                                    np.asarray(edges, np.float32)))
    np.testing.assert_allclose(probs, 1.0 / k, rtol=2e-4)
    # Any Gaussian: the float64 CDF differences, tails included.
    rng = np.random.default_rng(0)
    mean, log_var = rng.normal(scale=2, size=5), rng.normal(scale=2, size=5) - 3
    probs = np.asarray(bbans.posterior_bucket_probs(
        mean.astype(np.float32), log_var.astype(np.float32), np.asarray(edges, np.float32)))
    std = np.exp(0.5 * log_var)[:, None]
    exact = stats.norm.sf((edges[:-1] - mean[:, None]) / std) - stats.norm.sf(
        (edges[1:] - mean[:, None]) / std)
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(probs, exact, atol=2e-6)


def test_lossless_round_trip_is_exact_and_the_file_is_close_to_the_negative_elbo(codec, tmp_path):
    run, coder = codec
    images = compression.split_images(run, "test", 200)
    assert images.dtype == np.uint8 and images.shape == (200, 28, 28, 1) and images.max() > 200
    report = compression.lossless_report(run, coder, images, split="test",
                                         output=tmp_path / "test.gjx", iwae_samples=4)
    assert report["exact_round_trip"]
    decoded, names, header = coder.decompress(tmp_path / "test.gjx")
    np.testing.assert_array_equal(decoded, images)
    assert names == [] and header.count == 200 and header.shape == (28, 28, 1)
    # The file against the model's negative ELBO on the same 200 images: BB-ANS codes each
    # image in -log p(x|z) + log q(z|x) - log p(z) bits for a z drawn from q (discretised on
    # 256 buckets), a one-sample ELBO; over 200 images the two estimates differ by the
    # sampling noise of the ELBO (its per-image spread is a few percent) plus the fixed
    # overhead (27 initial words and the header, 0.006 bits/dim here). Tolerance: 2%.
    assert abs(report["file_vs_neg_elbo"]) < 0.02, report
    assert report["iwae4_bits_per_dim"] <= report["neg_elbo_bits_per_dim"] + 1e-6
    assert report["file_bits_per_dim"] < 8.0  # it compresses
    # The amortisation table is the file had it stopped after k images: at k = 200 (the last
    # image) it is the file itself, and it grows with every image.
    counts = report["amortisation"]
    assert set(counts) == {"1", "10", "100"}
    assert np.all(np.diff([counts[k] * int(k) for k in ("1", "10", "100")]) > 0)
    assert report["file_bits_per_dim"] == pytest.approx(report["payload_bits_per_dim"] + 8 * (
        container.HEADER_BYTES + 4) / (200 * 784))
    assert set(report["formats_bits_per_dim"]) >= {"PNG", "WebP lossless", "gzip (raw array)"}


def test_binarised_model_round_trip_is_exact(tmp_path):
    task = VAETask(tiny_codec_config("vae"))
    state = task.init_state(jax.random.PRNGKey(0))
    coder = files.VAECodec(task.model, state.params, task.likelihood, latent_dim=8,
                           image_shape=(28, 28, 1), spec={"test": 1})
    images = (np.random.default_rng(0).random((20, 28, 28, 1)) < 0.3).astype(np.uint8)
    coder.compress(images, tmp_path / "binary.gjx")
    np.testing.assert_array_equal(coder.decompress(tmp_path / "binary.gjx")[0], images)
    with pytest.raises(UserError, match=r"pixel levels must be in 0\.\.1"):
        coder.compress(images * 255, tmp_path / "bad.gjx")
    assert not (tmp_path / "bad.gjx").exists()


def test_lossy_grid_trades_bits_for_quality_and_decodes_what_the_encoder_saw(codec, tmp_path):
    run, coder = codec
    images = compression.split_images(run, "test", 64)
    sizes, errors = [], []
    for step in (0.05, 0.5, 4.0):
        result = coder.compress(images, tmp_path / "lossy.gjx", grid_step=step)
        decoded, _, header = coder.decompress(tmp_path / "lossy.gjx")
        assert header.mode == container.LOSSY and header.grid_step == step
        np.testing.assert_array_equal(decoded, result["reconstruction"])
        sizes.append(result["bytes"])
        errors.append(np.mean((decoded.astype(float) - images) ** 2))
    assert sizes[0] > sizes[1] > sizes[2], sizes
    assert errors[0] < errors[2], errors
    # The symbols are the rounded posterior means, coded under the prior on the grid.
    symbols = coder.lossy.symbols(images, 0.5)
    np.testing.assert_array_equal(
        lossy.decode_symbols(lossy.encode_symbols(symbols, 0.5), 64, 8, 0.5), symbols)
    with pytest.raises(UserError, match="grid step"):
        coder.compress(images, tmp_path / "x.gjx", grid_step=0.0)


def _rewrite(blob: bytes, offset: int, fmt: str, value) -> bytes:
    """`blob` with one header field changed and its CRC made valid again."""
    body = bytearray(blob[:-4])
    struct.pack_into(fmt, body, offset, value)
    return bytes(body) + struct.pack("<I", zlib.crc32(bytes(body)))


def test_damaged_or_foreign_files_get_one_line_errors(codec, tmp_path):
    run, coder = codec
    images = compression.split_images(run, "test", 10)
    path = tmp_path / "good.gjx"
    coder.compress(images, path)
    blob = path.read_bytes()
    flipped = bytearray(blob)
    flipped[container.HEADER_BYTES + 40] ^= 0x10
    other = files.VAECodec(run.task.model, jax.tree.map(lambda p: p * 1.001, run.state.params),
                           run.task.likelihood, latent_dim=8, image_shape=(28, 28, 1),
                           spec=compression.codec_spec(run))
    cases = {
        "truncated": (blob[:-9], coder, r"truncated or padded: \d+ bytes, its header says"),
        "header only": (blob[:20], coder, "shorter than the header"),
        "corrupted": (bytes(flipped), coder, "corrupted: its CRC-32 does not match"),
        "version": (_rewrite(blob, 4, "<H", 7), coder, "format version 7; this genjax reads"),
        "not ours": (b"\x89PNG\r\n" + blob[6:], coder, "not a genjax codec file"),
        "other model": (blob, other, "written by a different model"),
        # a valid CRC over a wrong count: the ANS decode does not end on its initial words
        "wrong count": (_rewrite(blob, 40, "<I", 9), coder, "is corrupted"),
    }
    for name, (data, decoder, message) in cases.items():
        damaged = tmp_path / f"{name}.gjx"
        damaged.write_bytes(data)
        with pytest.raises(UserError, match=message) as error:
            decoder.decompress(damaged)
        assert "\n" not in str(error.value), name
    # A failed write leaves the old file as it was.
    with pytest.raises(UserError):
        coder.compress(images[..., 0].astype(np.float32), path)
    assert path.read_bytes() == blob


def test_png_folder_round_trip_keeps_names_and_pixels(codec, tmp_path):
    run, coder = codec
    images = compression.split_images(run, "test", 5)
    folder = tmp_path / "pngs"
    files.write_images(images, folder, levels=256, names=[f"item_{i}.png" for i in range(5)])
    read, names = files.read_png_folder(folder, levels=256)
    np.testing.assert_array_equal(read, images)
    coder.compress(read, tmp_path / "pngs.gjx", names=names)
    decoded, kept, _ = coder.decompress(tmp_path / "pngs.gjx")
    out = files.write_images(decoded, tmp_path / "restored", levels=256, names=kept)
    assert sorted(p.name for p in out.iterdir()) == sorted(names)
    np.testing.assert_array_equal(files.read_png_folder(out, levels=256)[0], images)
    with pytest.raises(UserError, match="exists and is not empty"):
        files.write_images(decoded, out, levels=256)


def test_the_run_reloads_to_the_same_checksum(run_dir, codec):
    _, coder = codec
    again = compression.load_codec(load_run(run_dir))[1]
    assert again.checksum == coder.checksum


def test_compress_and_decompress_commands_round_trip_and_fail_in_one_line(run_dir, tmp_path):
    import subprocess
    import sys

    def command(module, *flags):
        return subprocess.run([sys.executable, "-m", module, f"--workdir={run_dir}", *flags],
                              capture_output=True, text=True, env={**os.environ,
                                                                   "JAX_PLATFORMS": "cpu"})

    done = command("experiments.compress", "--split=test", "--examples=20",
                   f"--output={tmp_path / 'test20.gjx'}")
    assert done.returncode == 0 and "20 images" in done.stdout, done.stderr
    done = command("experiments.decompress", f"--input={tmp_path / 'test20.gjx'}",
                   f"--output={tmp_path / 'out.npy'}")
    assert done.returncode == 0, done.stderr
    run = load_run(run_dir)
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"),
                                  compression.split_images(run, "test", 20))
    (tmp_path / "cut.gjx").write_bytes((tmp_path / "test20.gjx").read_bytes()[:-100])
    failed = command("experiments.decompress", f"--input={tmp_path / 'cut.gjx'}",
                     f"--output={tmp_path / 'never'}")
    assert failed.returncode == 2 and failed.stderr.strip().count("\n") == 0, failed.stderr
    assert "truncated" in failed.stderr and not (tmp_path / "never").exists()
