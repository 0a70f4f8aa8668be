"""A trained VAE as a codec: images in, one file out, and back, bit for bit.

`VAECodec(model, params, likelihood, latent_dim=..., image_shape=..., spec=...)`
compresses (N, H, W, C) arrays of pixel levels (uint8 0..255 for the
discretised-logistic VAE, 0/1 for the Bernoulli one) into a file of
genjax/codec/container.py's format: losslessly with BB-ANS
(genjax/codec/bbans.py), or lossily at a grid step (genjax/codec/lossy.py).
`decompress` checks the file (format, size, CRC, the model's checksum) before
decoding anything.

Images come from a split of the model's dataset or from a user's folder of
PNGs (`read_png_folder`); decoded images go to a `.npy` array or a folder of
PNGs (`write_images`), written atomically: a temporary sibling renamed into
place, so a failure leaves no partial output.
"""

from __future__ import annotations

import io
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from genjax.codec import bbans, container, lossy
from genjax.errors import UserError
from genjax.losses.likelihoods import Likelihood


class VAECodec:
    """Compress and decompress images with one trained VAE (see the module docstring)."""

    def __init__(self, model, params, likelihood: Likelihood, *, latent_dim: int,
                 image_shape: tuple[int, int, int], spec: dict,
                 num_buckets: int = bbans.NUM_BUCKETS):
        if likelihood.levels is None or likelihood.level_log_probs is None:
            raise UserError(f"the {likelihood.name!r} likelihood models continuous pixels; "
                            "only a VAE with a discrete decoder (bernoulli, logistic) is a codec")
        self.levels = likelihood.levels
        self.latent_dim = latent_dim
        self.shape = tuple(image_shape)
        self.num_buckets = num_buckets
        self.checksum = container.model_checksum(params, spec)
        self.lossless = bbans.coder_model(model, params, likelihood, latent_dim, num_buckets)
        self.lossy = lossy.LossyCoder(model, params, likelihood)

    def check_images(self, images: np.ndarray, source: str = "the input") -> np.ndarray:
        """The images as uint8 (N, H, W, C) levels, or a one-line `UserError`."""
        images = np.asarray(images)
        if images.ndim == len(self.shape) and self.shape[-1] == 1:
            images = images[..., None]
        if images.ndim != 4 or images.shape[1:] != self.shape:
            raise UserError(f"{source}: images must be (N, {', '.join(map(str, self.shape))}); "
                            f"got {images.shape}")
        if len(images) == 0:
            raise UserError(f"{source} holds no images")
        if not np.issubdtype(images.dtype, np.integer):
            raise UserError(f"{source}: images must be integer pixel levels, got {images.dtype}")
        if images.min() < 0 or images.max() >= self.levels:
            raise UserError(f"{source}: pixel levels must be in 0..{self.levels - 1}, got "
                            f"{images.min()}..{images.max()}")
        return images.astype(np.uint8)

    def compress(self, images: np.ndarray, output: str | Path, *, names: list[str] | None = None,
                 grid_step: float | None = None, seed: int = 0) -> dict:
        """Write `images` to `output`; returns sizes and timings.

        Lossless without `grid_step`; with it, lossy on that grid (and the returned
        dict holds the reconstruction, which is what `decompress` will give).
        """
        images = self.check_images(images)
        if grid_step is not None:
            lossy.check_grid_step(grid_step)
        if names is not None and (len(names) != len(images)
                                  or any("\n" in n for n in names)):
            raise UserError("names must be one line each, one per image")
        started = time.perf_counter()
        result = {"count": len(images), "dims": int(images[0].size)}
        if grid_step is None:
            words, bits = bbans.encode(images, self.lossless, seed=seed)
            result["bits_after_each"] = bits
            result["initial_bits"] = 32 * bbans.initial_words(self.latent_dim)
            mode, step = container.LOSSLESS, 0.0
        else:
            symbols = self.lossy.symbols(images, grid_step)
            words = lossy.encode_symbols(symbols, grid_step)
            result["reconstruction"] = self.lossy.reconstruct(symbols, grid_step)
            mode, step = container.LOSSY, float(grid_step)
        header = container.Header(mode=mode, checksum=self.checksum, count=len(images),
                                  shape=self.shape, levels=self.levels,
                                  latent_dim=self.latent_dim, num_buckets=self.num_buckets,
                                  grid_step=step, seed=seed)
        result["bytes"] = container.write(output, header, words, names)
        result["payload_bits"] = 32 * len(words)
        result["seconds"] = time.perf_counter() - started
        return result

    def decompress(self, path: str | Path) -> tuple[np.ndarray, list[str], container.Header]:
        """(images (N, H, W, C) uint8 levels, names, header) of a file this model wrote."""
        header, words, names = container.read(path, self.checksum)
        if header.shape != self.shape or header.levels != self.levels or \
                header.latent_dim != self.latent_dim:
            raise UserError(f"{path} holds {header.shape} images of {header.levels} levels and "
                            f"{header.latent_dim} latents; this model codes {self.shape}, "
                            f"{self.levels}, {self.latent_dim}")
        if header.mode == container.LOSSLESS and header.num_buckets != self.num_buckets:
            raise UserError(f"{path} was coded with {header.num_buckets} latent buckets; "
                            f"this codec uses {self.num_buckets}")
        try:
            if header.mode == container.LOSSLESS:
                images = bbans.decode(words, header.count, header.shape, self.lossless,
                                      seed=header.seed)
            else:
                symbols = lossy.decode_symbols(words, header.count, header.latent_dim,
                                               header.grid_step)
                images = self.lossy.reconstruct(symbols, header.grid_step)
        except (ValueError, RuntimeError) as err:
            raise UserError(f"{path} is corrupted: {err}") from None
        return images, names, header


def read_png_folder(folder: str | Path, *, levels: int) -> tuple[np.ndarray, list[str]]:
    """A folder's PNGs (sorted by name) as (N, H, W, 1) levels, and their names.

    8-bit grayscale pictures give levels 0..255; for a 2-level (binarised) model each
    pixel must be 0 or 255 (it becomes 0 or 1).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder} is not a folder of PNGs")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png")
    if not paths:
        raise UserError(f"{folder} holds no .png files")
    images = []
    for path in paths:
        try:
            with Image.open(path) as im:
                if im.mode not in ("L", "1", "P", "RGB", "RGBA", "LA", "I;16"):
                    raise UserError(f"{path}: unsupported PNG mode {im.mode}")
                array = np.asarray(im.convert("L"))
        except (OSError, SyntaxError) as err:
            raise UserError(f"{path} is not a readable PNG ({err})") from None
        images.append(array)
    shapes = {a.shape for a in images}
    if len(shapes) != 1:
        raise UserError(f"{folder}: the PNGs differ in size ({sorted(shapes)})")
    stacked = np.stack(images)[..., None]
    if levels == 2:
        if not np.isin(stacked, (0, 255)).all():
            raise UserError(f"{folder}: a binarised model codes black-and-white pictures "
                            "(pixels 0 or 255 only)")
        stacked = (stacked // 255).astype(np.uint8)
    return stacked, [p.name for p in paths]


def read_images(path: str | Path, *, levels: int) -> tuple[np.ndarray, list[str] | None]:
    """A `.npy` array of levels, or a folder of PNGs; (images, names or None)."""
    path = Path(path)
    if path.suffix == ".npy":
        if not path.is_file():
            raise UserError(f"{path} does not exist")
        return np.load(path, allow_pickle=False), None
    return read_png_folder(path, levels=levels)


def write_images(images: np.ndarray, output: str | Path, *, levels: int,
                 names: list[str] | None = None) -> Path:
    """`images` (N, H, W, C) levels to `output`: a `.npy` of levels, or a new folder of PNGs
    (8-bit grayscale; a 2-level image is written 0/255). Atomic either way."""
    output = Path(output)
    if output.suffix == ".npy":
        buffer = io.BytesIO()
        np.save(buffer, images)
        container.atomic_write_bytes(output, buffer.getvalue())
        return output
    if output.exists() and any(output.iterdir()):
        raise UserError(f"{output} exists and is not empty; give a new folder or a .npy path")
    if not names or len(names) != len(images) or len(set(names)) != len(names) or any(
            Path(n).name != n or not n.lower().endswith(".png") for n in names):
        names = [f"{i:05d}.png" for i in range(len(images))]
    scale = 255 // (levels - 1)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    try:
        for image, name in zip(images, names, strict=True):
            Image.fromarray((image[..., 0] * scale).astype(np.uint8), mode="L").save(tmp / name)
        if output.exists():
            output.rmdir()
        tmp.rename(output)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return output
