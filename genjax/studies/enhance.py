"""Apply a trained image-to-image run to your own grayscale PNGs.

`enhance_files(workdir, input, output)` reads one PNG or every *.png of a folder
(Pillow), builds the model input of the run's pair task exactly as
genjax.data.pairs builds it from a real image, runs `task.translate` and writes
the 28x28 outputs under the same names into `output`:

- super_resolution: the PNG is the LOW-resolution image (28/scale square); other
  sizes are resized to it first (Pillow's box filter when shrinking, bicubic when
  enlarging), then up-sampled by `pairs.upsample_nearest`, as in training;
- inpaint_centre: the PNG is the image (resized to 28x28); the centre square is
  the hole, cut and masked by `pairs.degrade` as in training. inpaint_box runs
  are refused: their hole is random, so there is no hole to give them;
- denoise_*, edges: the PNG is the degraded input itself (noisy image, edge map);
- a CycleGAN run (experiments.cyclegan): the PNG is an image of domain A
  (`direction="ab"`, the default) or of domain B ("ba"), resized to 28x28.

Grayscale is mode L (or 1, LA, I;16); RGB, RGBA and palette files are accepted
only when R = G = B everywhere (alpha is ignored). Everything is checked before
`output` is created: a bad file, an empty folder, a workdir that is not an
image-to-image run are one-line `UserError`s and nothing is written.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from genjax.data import pairs
from genjax.data.registry import DATASETS
from genjax.errors import UserError
from genjax.train.runs import load_run, read_config
from genjax.train.tasks import ImageToImage, make_task


def translate_all(task, state, inputs: np.ndarray, batch_size: int, **kwargs) -> np.ndarray:
    """task.translate(state, batch, **kwargs) over `inputs` in batches of exactly
    `batch_size` (one compile); kwargs: e.g. a CycleGAN's direction."""
    out = []
    for start in range(0, len(inputs), batch_size):
        chunk = inputs[start:start + batch_size]
        pad = np.repeat(chunk[-1:], batch_size - len(chunk), axis=0)
        out.append(np.asarray(task.translate(state, np.concatenate([chunk, pad]), **kwargs)
                              )[:len(chunk)])
    return np.concatenate(out)


def image_to_image_config(workdir: str | Path):
    """The config of the run in `workdir`, checked to be an image-to-image task."""
    config = read_config(workdir)
    task = make_task(config)
    if not isinstance(task, ImageToImage):
        raise UserError(f"{workdir} holds a {config.task!r} run, not an image-to-image run "
                        "(train one with python -m experiments.pix2pix or "
                        "experiments.cyclegan)")
    return config


def png_files(path: str | Path) -> list[Path]:
    """`path` if it is a file, else the *.png files of the folder `path`, sorted by name."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise UserError(f"--input {path} does not exist")
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() == ".png")
    if not files:
        raise UserError(f"--input folder {path} holds no .png files")
    return files


def read_gray(path: Path) -> np.ndarray:
    """A grayscale PNG as float32 (H, W) in [0, 1] (see the module docstring)."""
    try:
        with Image.open(path) as image:
            image.load()
    except (UnidentifiedImageError, OSError) as err:
        raise UserError(f"{path} cannot be read as an image ({type(err).__name__})") from None
    if image.format != "PNG":
        raise UserError(f"{path} is a {image.format} file, not a PNG")
    if image.mode in ("I", "I;16", "I;16B", "I;16L"):
        return np.asarray(image, np.float32) / 65535.0
    if image.mode in ("1", "L", "LA"):
        return np.asarray(image.convert("L"), np.float32) / 255.0
    if image.mode in ("P", "PA", "RGB", "RGBA"):
        rgb = np.asarray(image.convert("RGB"))
        if not (np.array_equal(rgb[..., 0], rgb[..., 1])
                and np.array_equal(rgb[..., 0], rgb[..., 2])):
            raise UserError(f"{path} is a colour image ({image.mode} with R, G and B not all "
                            "equal); give grayscale PNGs")
        return rgb[..., 0].astype(np.float32) / 255.0
    raise UserError(f"{path} has image mode {image.mode}; give 8- or 16-bit grayscale PNGs")


def _resized(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W) in [0, 1] -> `size` (box filter shrinking, bicubic enlarging), float32."""
    if image.shape == size:
        return image
    shrink = image.shape[0] >= size[0] and image.shape[1] >= size[1]
    resample = Image.Resampling.BOX if shrink else Image.Resampling.BICUBIC
    out = Image.fromarray(image.astype(np.float32)).resize(size[::-1], resample)
    return np.clip(np.asarray(out, np.float32), 0.0, 1.0)


def model_inputs(config, images: list[np.ndarray]) -> np.ndarray:
    """The model inputs (N, H, W, C_in) in [-1, 1] of user images for the run's pair task."""
    h, w, channels = DATASETS[config.data.name].shape
    if channels != 1:
        raise UserError(f"enhance reads grayscale PNGs; this run's {config.data.name} "
                        f"images have {channels} channels")
    if config.task == "cyclegan":
        return pairs.to_model_range(np.stack([_resized(x, (h, w)) for x in images])[..., None])
    name = config.pairs.name
    if name == "inpaint_box":
        raise UserError("an inpaint_box run needs the position of each hole, which a PNG "
                        "does not give; use an inpaint_centre run")
    if name == "super_resolution":
        s = config.pairs.scale
        small = np.stack([_resized(x, (h // s, w // s)) for x in images])[..., None]
        return pairs.to_model_range(pairs.upsample_nearest(small, s))
    full = np.stack([_resized(x, (h, w)) for x in images])[..., None]
    if name == "inpaint_centre":
        full = pairs.degrade(name, full, None, config.pairs)
    return pairs.to_model_range(full)


def enhance_files(workdir: str | Path, input: str | Path, output: str | Path, *,
                  batch_size: int = 64, step: int | None = None,
                  direction: str | None = None) -> list[Path]:
    """Translate the PNG(s) at `input` with the run in `workdir`; the written paths.

    `direction` ("ab" or "ba") is a CycleGAN run's; None is "ab" for CycleGAN.
    """
    output = Path(output)
    if output.exists() and not output.is_dir():
        raise UserError(f"--output {output} is a file, not a directory")
    if batch_size <= 0:
        raise UserError(f"batch_size must be positive, got {batch_size}")
    config = image_to_image_config(workdir)
    kwargs = {}
    if config.task == "cyclegan":
        kwargs["direction"] = direction or "ab"
        if kwargs["direction"] not in ("ab", "ba"):
            raise UserError(f"unknown direction {direction!r}; choose ab (A -> B) or ba "
                            "(B -> A)")
    elif direction is not None:
        raise UserError(f"{workdir} holds a {config.task!r} run, which has one direction; "
                        "--direction is for CycleGAN runs")
    files = png_files(input)
    inputs = model_inputs(config, [read_gray(p) for p in files])
    run = load_run(workdir, step, config=config)
    outputs = translate_all(run.task, run.state, inputs, min(batch_size, len(inputs)),
                            **kwargs)
    levels = np.round((np.clip(outputs, -1.0, 1.0) + 1.0) * 127.5).astype(np.uint8)
    output.mkdir(parents=True, exist_ok=True)
    written = []
    for path, image in zip(files, levels, strict=True):
        Image.fromarray(image[..., 0]).save(output / path.name)
        written.append(output / path.name)
    return written
