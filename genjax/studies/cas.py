"""Classification Accuracy Score of a class-conditional generator (Ravuri & Vinyals 2019).

Ravuri & Vinyals (2019, "Classification Accuracy Score for Conditional Generative
Models") train a classifier on generated, labelled images only and test it on the
real test set: a generator that misses part of a class, or draws the wrong class,
lowers the score. Its gap to the same classifier trained on real data is the result.

`cas_for_workdir` reopens a conditional GAN's run (`load_run`) and:
1. draws `num_per_class` images of every class (default: as many as the real
   training split holds, e.g. 6000 for Fashion-MNIST), labels interleaved so every
   batch mixes the classes, into `<out>/generated.npz` (uint8, as a stored split);
   a rerun with the same settings reuses the file, so `fit` resumes on the same data;
2. `fit`s the classifier config on it in `<out>` (default `<workdir>/cas`);
3. writes `<out>/cas.json`: that classifier's accuracy on the real test split, overall
   and per class, next to the accuracy of the classifier trained on real data
   (`baseline`, default the shipped `fashion_mnist_cnn`), measured the same way.

The core, `classification_accuracy_score(class_sampler, num_classes, ...)`, takes any
sampler `fn(rng, labels) -> images in [-1, 1]`, so it runs without a GAN.
"""


from __future__ import annotations

import json
import logging
from pathlib import Path

import jax
import numpy as np

from genjax import data
from genjax.config import check_common
from genjax.errors import UserError
from genjax.eval.accuracy import accuracy
from genjax.models import pretrained
from genjax.models.build import make_classifier
from genjax.train.loop import fit
from genjax.train.runs import load_run, read_config
from genjax.train.tasks import classifier, is_class_conditional, make_task


def generate_labelled(class_sampler, num_classes: int, num_per_class: int, *,
                      batch_size: int = 100, seed: int = 0,
                      value_range: tuple[float, float] = (-1.0, 1.0)
                      ) -> tuple[np.ndarray, np.ndarray]:
    """`num_per_class` images of each class as (uint8 images, int32 labels).

    Batch i asks for labels (i * batch_size + arange(batch_size)) % num_classes with
    key fold_in(PRNGKey(seed), i); the last batch's surplus is dropped.
    """
    total = num_classes * num_per_class
    labels = np.arange(total, dtype=np.int32) % num_classes
    root = jax.random.PRNGKey(seed)
    chunks = []
    for i, start in enumerate(range(0, total, batch_size)):
        asked = (start + np.arange(batch_size, dtype=np.int32)) % num_classes
        images = np.asarray(class_sampler(jax.random.fold_in(root, i), asked))
        if images.ndim != 4 or len(images) != batch_size:
            raise UserError(f"class_sampler returned shape {images.shape} for {batch_size} "
                            "labels; it must return (batch_size, H, W, C) images")
        chunks.append(data.to_uint8(images[:total - start], value_range))
    return np.concatenate(chunks), labels


def generated_set(out: Path, record: dict, class_sampler, num_classes: int) -> Path:
    """`<out>/generated.npz`, drawn now or kept from an earlier run with the same `record`
    (num_per_class, batch_size, seed and a description of the generator)."""
    path, record_path = out / "generated.npz", out / "generated.json"
    if path.is_file() and record_path.is_file():
        earlier = json.loads(record_path.read_text())
        if earlier != record:
            raise UserError(f"{path} was generated with {earlier}, not {record}; give another "
                            "--out or delete that directory")
        logging.info("reusing the generated set %s", path)
        return path
    logging.info("generating %d images of each of %d classes", record["num_per_class"],
                 num_classes)
    images, labels = generate_labelled(class_sampler, num_classes, record["num_per_class"],
                                       batch_size=record["batch_size"], seed=record["seed"])
    data.save_arrays(path, images, labels)
    record_path.write_text(json.dumps(record, indent=2))
    return path


def check_request(config, num_classes: int, num_per_class: int | None) -> None:
    """One-line errors for a bad CAS request, before anything is generated or trained."""
    spec = data.DATASETS.get(config.data.name)
    if spec is None or spec.num_classes != num_classes:
        raise UserError(f"the classifier config is for {config.data.name!r} "
                        f"({None if spec is None else spec.num_classes} classes) but the "
                        f"generator draws {num_classes} classes")
    if num_per_class is not None and (not isinstance(num_per_class, int) or num_per_class <= 0):
        raise UserError(f"num_per_class must be a positive integer, got {num_per_class!r}")
    if num_per_class is not None and config.batch_size > num_classes * num_per_class:
        raise UserError(f"batch_size={config.batch_size} exceeds the {num_classes} x "
                        f"{num_per_class} generated images")
    plain = config.copy_and_resolve_references()
    with plain.unlocked():
        plain.data.train_arrays = ""  # the generated set does not exist yet
        plain.data.train_fraction = 1.0
    check_common(plain)
    classifier.check_config(plain)


def classification_accuracy_score(class_sampler, num_classes: int, *, config, out,
                                  num_per_class: int, batch_size: int = 100, seed: int = 0,
                                  baseline: str | None = "fashion_mnist_cnn",
                                  generator: dict | None = None) -> dict:
    """Train `config` (a classifier config) on generated images in `out`; returns cas.json.

    `generator` describes the sampler for the record (workdir, step); a rerun
    with the same arguments resumes the classifier's training.
    """
    config = config.copy_and_resolve_references()
    check_request(config, num_classes, num_per_class)
    spec = data.DATASETS[config.data.name]
    real = None
    if baseline is not None:
        real_model, real_variables, description = pretrained.load(baseline)
        if description["dataset"] != config.data.name:
            raise UserError(f"the baseline {baseline!r} classifies {description['dataset']}, "
                            f"not {config.data.name}; pass a matching --baseline")

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    record = {"num_per_class": num_per_class, "batch_size": batch_size, "seed": seed,
              "generator": generator or {}}
    with config.unlocked():
        config.data.train_arrays = str(generated_set(out, record, class_sampler, num_classes))
    state = jax.device_get(fit(config, out))
    model = make_classifier(config)
    scored = dict(dataset=config.data.name, split=config.data.eval_split,
                  batch_size=config.eval_batch_size)
    cas = accuracy(model, {"params": state.params, "batch_stats": state.batch_stats},
                   image_range=config.data.image_range, **scored)
    if baseline is not None:
        real = accuracy(real_model, real_variables,
                        image_range=description["image_range"], **scored)
    result = {
        "cas_accuracy": cas["accuracy"],
        "real_accuracy": None if real is None else real["accuracy"],
        "cas_per_class": cas["per_class"],
        "real_per_class": None if real is None else real["per_class"],
        "class_names": list(spec.class_names),
        "eval_split": config.data.eval_split, "eval_count": cas["count"],
        "num_train_images": num_classes * num_per_class, "classifier_steps": int(state.step),
        "baseline": None if baseline is None else str(baseline), **record,
    }
    (out / "cas.json").write_text(json.dumps(result, indent=2))
    return result


def cas_for_workdir(workdir: str | Path, *, config, num_per_class: int | None = None,
                    out: str | Path | None = None, batch_size: int = 100, seed: int = 0,
                    baseline: str | None = "fashion_mnist_cnn") -> dict:
    """CAS of the newest checkpoint of the conditional GAN trained in `workdir`."""
    workdir = Path(workdir)
    gan_config = read_config(workdir)
    if not is_class_conditional(make_task(gan_config)):
        raise UserError(f"the model in {workdir} (task {gan_config.task!r}) is not "
                        "class-conditional; CAS needs a conditional GAN's workdir")
    data.check_dataset(gan_config.data.name, with_labels=True)
    num_classes = data.DATASETS[gan_config.data.name].num_classes
    config = config.copy_and_resolve_references()
    config.data.name = gan_config.data.name  # the classifier learns the GAN's dataset
    check_request(config, num_classes, num_per_class)
    if num_per_class is None:
        num_per_class = data.num_examples(config.data.name, config.data.train_split) // num_classes
    run = load_run(workdir, config=gan_config)
    return classification_accuracy_score(
        run.task.class_sampler(run.state, batch_size), num_classes, config=config,
        out=Path(out) if out else workdir / "cas", num_per_class=num_per_class,
        batch_size=batch_size, seed=seed, baseline=baseline,
        generator={"workdir": str(workdir), "step": run.step})
