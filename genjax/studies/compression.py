"""The VAE codec measured: lossless bits against the model's bound and the standard formats,
and a lossy rate-distortion curve against JPEG and WebP.

`load_codec(workdir)` reopens a trained VAE run (`experiments.vae`) as a
`genjax.codec.files.VAECodec`. `split_images(run, split)` gives a split's
images as the model sees them: 8-bit levels, or the pipeline's seeded
binarisation (0/1) for a Bernoulli VAE.

`lossless_report` compresses images into one real file and decompresses it,
checking the round trip, and sets beside its bits/dim:
- the model's negative ELBO (single-sample, `eval/elbo`'s estimator) and
  IWAE-k bound on the same images, in bits/dim (genjax/eval/likelihood.py);
- the bits-back overhead: the initial words, and the file's bits/dim after the
  first n images for growing n (how the overhead amortises);
- PNG (Pillow, compress_level 9, optimize), WebP lossless (method 6, quality
  100), JPEG XL lossless (pillow-jxl-plugin, effort 9), each image its own
  file, as a user would store them; and gzip, bz2 and lzma (level 9) of the
  raw uint8 array of all images (one byte per pixel);
- encode and decode speed in images/s.
For a Bernoulli (binarised) model the formats code the 0/1 images (PNG as
1-bit pictures) and the unit is bits per pixel all the same.

`rate_distortion` sweeps the lossy codec's grid step and, on the same images,
JPEG's and WebP's quality, each point its bits/image (the whole file for the
codec and for each per-image JPEG or WebP file: headers included) and its mean
PSNR and SSIM (genjax/eval/enhancement.py, dm-pix). The curves are plotted
and, at each codec point, the JPEG PSNR at the same rate is interpolated.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import math
import tempfile
import time
from pathlib import Path

import jax
import numpy as np
from PIL import Image

from genjax.codec import container
from genjax.codec.files import VAECodec
from genjax.errors import UserError
from genjax.eval import enhancement
from genjax.eval import likelihood as likelihood_eval
from genjax.train.runs import Run, load_run
from genjax.train.tasks.vae import VAETask

AMORTISATION_COUNTS = (1, 10, 100, 1000, 10000)
GRID_STEPS = (2.0, 1.0, 0.5, 0.25, 0.125, 0.0625)
JPEG_QUALITIES = (1, 5, 10, 20, 30, 50, 70, 90)
WEBP_QUALITIES = (0, 5, 10, 20, 30, 50, 70, 90)
FILE_OVERHEAD_BYTES = container.HEADER_BYTES + 4  # the header and the CRC (no names)


def codec_spec(run: Run) -> dict:
    """What the checksum covers besides the weights: the model, the likelihood, the data."""
    c = run.config
    return {"model": c.model.to_dict(), "likelihood": c.likelihood.to_dict(),
            "data": {"name": c.data.name, "image_range": c.data.image_range}}


def load_codec(workdir: str | Path | Run, step: int | None = None) -> tuple[Run, VAECodec]:
    """A trained VAE run and its codec, or a one-line `UserError`."""
    run = workdir if isinstance(workdir, Run) else load_run(workdir, step)
    if not isinstance(run.task, VAETask):
        raise UserError(f"{run.workdir} is a {run.config.task!r} run; the codec needs a VAE run "
                        "(python -m experiments.vae)")
    task = run.task
    codec = VAECodec(task.model, jax.device_get(run.state.params), task.likelihood,
                     latent_dim=run.config.model.latent_dim, image_shape=task.shape,
                     spec=codec_spec(run))
    return run, codec


def split_images(run: Run, split: str, examples: int | None = None) -> np.ndarray:
    """The first `examples` images of `split` as the model codes them: uint8 levels."""
    c = run.config
    if examples is not None and examples < 1:
        raise UserError(f"--examples must be at least 1, got {examples}")
    out = []
    for batch in likelihood_eval.indexed_eval_batches(
            c.data.name, split=split, batch_size=500, image_range=c.data.image_range,
            max_examples=examples):
        out.append(batch["image"][batch["mask"]])
    return np.concatenate(out).round().astype(np.uint8)


def _encoded_bytes(image: np.ndarray, levels: int, fmt: str, **options) -> int:
    picture = Image.fromarray(image[..., 0] * np.uint8(255 // (levels - 1)), mode="L")
    if levels == 2 and fmt == "PNG":
        picture = picture.convert("1")
    buffer = io.BytesIO()
    picture.save(buffer, format=fmt, **options)
    return buffer.tell()


def jxl_available() -> bool:
    try:
        import pillow_jxl  # noqa: F401  (registers the JXL format with Pillow)
    except ImportError:
        return False
    return True


def standard_lossless_bits(images: np.ndarray, levels: int) -> dict[str, float]:
    """Total bits of the images under each standard lossless format (module docstring)."""
    formats = {"PNG": ("PNG", {"compress_level": 9, "optimize": True}),
               "WebP lossless": ("WEBP", {"lossless": True, "quality": 100, "method": 6})}
    if jxl_available():
        formats["JPEG XL lossless"] = ("JXL", {"lossless": True, "effort": 9})
    bits = {name: 8.0 * sum(_encoded_bytes(x, levels, fmt, **opts) for x in images)
            for name, (fmt, opts) in formats.items()}
    raw = np.ascontiguousarray(images).tobytes()
    bits["gzip (raw array)"] = 8.0 * len(gzip.compress(raw, compresslevel=9))
    bits["bz2 (raw array)"] = 8.0 * len(bz2.compress(raw, compresslevel=9))
    bits["lzma (raw array)"] = 8.0 * len(lzma.compress(raw, preset=9))
    return bits


def lossless_report(run: Run, codec: VAECodec, images: np.ndarray, *, split: str,
                    output: str | Path, iwae_samples: int = 100) -> dict:
    """Compress `images` (the first N of `split`) to `output` and back; see the module doc."""
    n, dims = len(images), int(images[0].size)
    started = time.perf_counter()
    result = codec.compress(images, output)
    encode_seconds = time.perf_counter() - started
    started = time.perf_counter()
    decoded, _, _ = codec.decompress(output)
    decode_seconds = time.perf_counter() - started
    exact = bool(np.array_equal(decoded, images))
    file_bits = 8.0 * result["bytes"]
    c = run.config
    bound = likelihood_eval.iwae_over_split(
        {"params": run.state.params}, model=run.task.model, likelihood=run.task.likelihood,
        dataset=c.data.name, split=split, num_samples=iwae_samples, batch_size=100,
        chunk_size=min(iwae_samples, 100), seed=c.seed, max_examples=n)
    per_dim = 1.0 / (dims * math.log(2.0))
    after = result["bits_after_each"]
    report = {
        "images": n, "dims": dims, "levels": codec.levels, "exact_round_trip": exact,
        "file_bytes": result["bytes"], "file_bits_per_dim": file_bits / (n * dims),
        "payload_bits_per_dim": result["payload_bits"] / (n * dims),
        "neg_elbo_bits_per_dim": -bound["elbo_nats"] * per_dim,
        f"iwae{iwae_samples}_bits_per_dim": bound["nll_nats"] * per_dim,
        "initial_bits": result["initial_bits"],
        # the file's bits/dim had it stopped after the first k images (header included)
        "amortisation": {str(k): (float(after[k - 1]) + 8 * FILE_OVERHEAD_BYTES) / (k * dims)
                         for k in AMORTISATION_COUNTS if k <= n},
        "encode_images_per_s": n / encode_seconds, "decode_images_per_s": n / decode_seconds,
        "formats_bits_per_dim": {name: bits / (n * dims) for name, bits in
                                 standard_lossless_bits(images, codec.levels).items()},
    }
    report["file_vs_neg_elbo"] = report["file_bits_per_dim"] / report["neg_elbo_bits_per_dim"] - 1
    return report


def format_lossless_table(report: dict) -> str:
    k = next(key for key in report if key.startswith("iwae"))
    rows = [("genjax BB-ANS file", report["file_bits_per_dim"]),
            ("model: negative ELBO", report["neg_elbo_bits_per_dim"]),
            (f"model: IWAE-{k[4:].split('_')[0]} bound", report[k])]
    rows += sorted(report["formats_bits_per_dim"].items(), key=lambda kv: kv[1])
    lines = [f"| {report['images']:,} images | bits/dim |", "|---|---:|"]
    lines += [f"| {name} | {value:.4f} |" for name, value in rows]
    return "\n".join(lines)


def _scores(outputs: np.ndarray, targets: np.ndarray, levels: int) -> dict[str, float]:
    top = float(levels - 1)
    scores = enhancement.split_scores(lambda x: x, outputs.astype(np.float32),
                                      targets.astype(np.float32), batch_size=500,
                                      value_range=(0.0, top))
    return {"psnr": scores["psnr"], "ssim": scores["ssim"]}


def _decoded_format(image: np.ndarray, fmt: str, quality: int) -> tuple[int, np.ndarray]:
    buffer = io.BytesIO()
    Image.fromarray(image[..., 0], mode="L").save(buffer, format=fmt, quality=quality)
    size = buffer.tell()
    buffer.seek(0)
    with Image.open(buffer) as im:
        return size, np.asarray(im.convert("L"))[..., None]


def rate_distortion(codec: VAECodec, images: np.ndarray, *,
                    grid_steps=GRID_STEPS, jpeg_qualities=JPEG_QUALITIES,
                    webp_qualities=WEBP_QUALITIES) -> dict:
    """{"genjax": [...], "JPEG": [...], "WebP": [...]} points of bits/image, PSNR, SSIM."""
    if codec.levels != 256:
        raise UserError("the rate-distortion comparison is for 8-bit models (vae_8bit); "
                        "JPEG and WebP code 8-bit pictures")
    n = len(images)
    curves: dict[str, list[dict]] = {"genjax": [], "JPEG": [], "WebP": []}
    with tempfile.TemporaryDirectory() as tmp:
        for step in grid_steps:
            started = time.perf_counter()
            result = codec.compress(images, Path(tmp) / "lossy.gjx", grid_step=step)
            decoded, _, _ = codec.decompress(Path(tmp) / "lossy.gjx")
            if not np.array_equal(decoded, result["reconstruction"]):
                raise RuntimeError(f"the lossy decode at step {step} differs from the encoder's")
            curves["genjax"].append({"grid_step": step, "bits_per_image": 8.0 * result["bytes"] / n,
                                     **_scores(decoded, images, 256),
                                     "seconds": time.perf_counter() - started})
    for name, fmt, qualities in (("JPEG", "JPEG", jpeg_qualities),
                                 ("WebP", "WEBP", webp_qualities)):
        for quality in qualities:
            sizes, decoded = zip(*(_decoded_format(x, fmt, quality) for x in images),
                                 strict=True)
            curves[name].append({"quality": quality, "bits_per_image": 8.0 * sum(sizes) / n,
                                 **_scores(np.stack(decoded), images, 256)})
    jpeg = sorted(curves["JPEG"], key=lambda p: p["bits_per_image"])
    rates = [p["bits_per_image"] for p in jpeg]
    for point in curves["genjax"]:
        inside = rates[0] <= point["bits_per_image"] <= rates[-1]
        point["jpeg_psnr_at_rate"] = float(np.interp(
            point["bits_per_image"], rates, [p["psnr"] for p in jpeg])) if inside else None
    return {"images": n, "curves": curves}


def plot_rate_distortion(rd: dict, path: str | Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for name, points in rd["curves"].items():
        points = sorted(points, key=lambda p: p["bits_per_image"])
        rate = [p["bits_per_image"] for p in points]
        for ax, metric in zip(axes, ("psnr", "ssim"), strict=True):
            ax.plot(rate, [p[metric] for p in points], marker="o",
                    label=name if name != "genjax" else "genjax VAE (quantised mean)")
    for ax, label in zip(axes, ("PSNR (dB)", "SSIM"), strict=True):
        ax.set_xscale("log")
        ax.set_xlabel("bits per image (whole files)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(f"Lossy rate-distortion, {rd['images']:,} Fashion-MNIST test images (28x28)")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def format_rd_table(rd: dict) -> str:
    lines = ["| method | setting | bits/image | PSNR (dB) | SSIM | JPEG PSNR at that rate |",
             "|---|---|---:|---:|---:|---:|"]
    for name, points in rd["curves"].items():
        for p in sorted(points, key=lambda p: p["bits_per_image"]):
            setting = f"grid {p['grid_step']:g}" if name == "genjax" else f"quality {p['quality']}"
            at = p.get("jpeg_psnr_at_rate")
            lines.append(f"| {name} | {setting} | {p['bits_per_image']:.1f} | {p['psnr']:.2f} | "
                         f"{p['ssim']:.4f} | {'' if at is None else f'{at:.2f}'} |")
    return "\n".join(lines)


def write_report(report: dict, output: str | Path) -> None:
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    Path(output).write_text(json.dumps(report, indent=2))

