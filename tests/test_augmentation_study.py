"""The augmentation study (genjax/studies/augmentation.py, run by
experiments/augmentation_study.py) and GANs on class-balanced subsets, with values: the
GAN's batches are the subset's images with their true labels, fraction 1.0 is the old
batch order, and a tiny study end to end (results equal to its runs' own records, the
mixed set built as documented, a rerun that trains nothing)."""

import json
import subprocess

import ml_collections
import numpy as np
import pytest
from PIL import Image

from genjax import data
from genjax.config import with_fields
from genjax.errors import UserError
from genjax.studies.augmentation import (
    CONDITIONS,
    augmentation_study,
    check_lists,
    group_name,
    seed_groups,
)
from genjax.train.loop import fit
from genjax.train.seeds import resolve_seed_fields
from genjax.train.tasks.gan import GANTask
from tests.conftest import run_experiment, tiny_classifier_config
from tests.test_cgan import tiny_cgan_config
from tests.test_gan_train import tiny_gan_config

NUM_CLASSES = 10
MODULE = "experiments.augmentation_study"
TINY = [  # 1% of the train split, 2 seeds (one group), a few steps of small models
    "--fractions=0.01", "--seeds=0,1", "--conditions=real,gan", "--gan_steps=10",
    "--classifier_steps=20", "--generated_per_class=10",
    "--gan_config.model.width=8", "--gan_config.model.latent_dim=16",
    "--gan_config.batch_size=32", "--gan_config.eval_batch_size=64",
    "--gan_config.eval_metrics=()", "--gan_config.log_every=5",
    "--classifier_config.model.widths=(4,8)", "--classifier_config.model.hidden=16",
    "--classifier_config.batch_size=32", "--classifier_config.optimizer.warmup_steps=2",
    "--classifier_config.log_every=5"]


def _keys(images) -> list[bytes]:
    return [image.tobytes() for image in images]


def test_gan_subset_batches_hold_only_subset_images_with_their_true_labels():
    config = tiny_cgan_config(**{"data.train_fraction": 0.01, "data.subset_seed": 3})
    images, labels = data.load_split("fashion_mnist", "train")
    subset = data.balanced_subset("fashion_mnist", "train", 0.01, seed=3)
    index_of = dict(zip(_keys(images[subset]), subset, strict=True))
    assert len(index_of) == 600  # no two subset images alike, so an image names its index
    batches = GANTask(config).train_batches(start_step=0)
    seen = []
    for _ in range(36):  # two epochs of 18 batches (600 = 18 * 32 + 24)
        batch = next(batches)
        found = [index_of[key] for key in _keys(data.to_uint8(batch["image"]))]
        np.testing.assert_array_equal(batch["label"], labels[found])
        seen.append(found)
    for epoch in (seen[:18], seen[18:]):
        assert len(set(np.concatenate(epoch))) == 576  # each subset image at most once
    assert np.array_equal(np.bincount(labels[np.concatenate(seen)], minlength=10) > 0,
                          [True] * NUM_CLASSES)
    # The classifier's subset for the same fraction and seed is the same set of images.
    same = data.training_set(
        tiny_classifier_config(**{"data.train_fraction": 0.01, "data.subset_seed": 3}).data)
    gan_images, gan_labels, source = data.training_set(GANTask(config).config.data)
    np.testing.assert_array_equal(gan_images, same[0])
    np.testing.assert_array_equal(gan_labels, same[1])
    assert source == "a class-balanced 0.01 of fashion_mnist:train"


@pytest.mark.parametrize("make_config", [tiny_cgan_config, tiny_gan_config])
def test_fraction_one_gives_exactly_the_old_batches(make_config):
    config = make_config()
    labelled = config.model.num_classes > 0
    old = data.train_iterator("fashion_mnist", batch_size=32, seed=0, with_labels=labelled,
                              start_step=1874)
    older = config.to_dict()  # a workdir's config.json from before the subset fields
    for field in ("train_fraction", "subset_seed"):
        older["data"].pop(field)
    runs = [GANTask(config).train_batches(1874),
            GANTask(ml_collections.ConfigDict(older)).train_batches(1874)]
    for _ in range(2):  # across the epoch boundary at step 1875
        expected = next(old)
        for run in runs:
            batch = next(run)
            assert set(batch) == set(expected) == ({"image", "label"} if labelled else {"image"})
            for key in expected:
                np.testing.assert_array_equal(batch[key], expected[key])


@pytest.mark.parametrize("fraction", [0.0, 1.5, -0.1])
def test_gan_fraction_outside_0_1_is_a_one_line_error_before_any_file(tmp_path, fraction):
    config = tiny_cgan_config(**{"data.train_fraction": fraction})
    with pytest.raises(UserError, match=r"^data.train_fraction must be in \(0, 1\] "
                                        rf"\(1: the whole set\), got {fraction}$"):
        fit(config, tmp_path / "w")
    with pytest.raises(UserError, match="batch_size=32 exceeds the 10 training examples of a "
                                        "class-balanced 0.0002 of fashion_mnist:train"):
        fit(tiny_cgan_config(**{"data.train_fraction": 0.0002}), tmp_path / "w")
    assert not (tmp_path / "w").exists()


def _snapshot(workdir):
    """Every file under workdir but the table and the plot, with its bytes."""
    return {str(p.relative_to(workdir)): p.read_bytes() for p in sorted(workdir.rglob("*"))
            if p.is_file() and p.name not in ("table.md", "plot.png")}


def test_tiny_study_end_to_end_and_a_rerun_trains_nothing(tmp_path):
    workdir = tmp_path / "study"
    proc = run_experiment(MODULE, workdir, *TINY)
    out = proc.communicate(timeout=600)[0]
    assert proc.returncode == 0, out[-3000:]
    results = json.loads((workdir / "results.json").read_text())
    assert sorted(results["runs"]) == ["f0.01_s0/gan", "f0.01_s0/real", "f0.01_s1/gan",
                                       "f0.01_s1/real"]
    group = workdir / "f0.01_s0-1"  # seeds 0 and 1: one program per part
    real_images, real_labels = data.load_split("fashion_mnist", "train")
    for condition, num_generated in [("real", 0), ("gan", 100)]:
        accuracies = []
        for seed in (0, 1):
            run = results["runs"][f"f0.01_s{seed}/{condition}"]
            assert 0.0 < run["test_accuracy"] <= 1.0 and run["test_count"] == 10000
            final = json.loads((group / f"classifier_{condition}" / f"seed_{seed}" /
                                "final_metrics.json").read_text())
            assert run["test_accuracy"] == final["eval/accuracy"] and run["steps"] == 20
            assert (run["num_real"], run["num_generated"]) == (600, num_generated)
            assert run["seconds"] > 0 and run["seeds_together"] == 2
            assert run["group"] == "f0.01_s0-1"
            accuracies.append(run["test_accuracy"])
        assert accuracies[0] != accuracies[1]  # two subsets, two initialisations
    gan = results["gans"]["f0.01_s0-1"]
    assert gan["seeds"] == [0, 1] and gan["gan_steps"] == 10 and gan["num_generated"] == 100
    assert gan["gan_seconds"] > 0 and gan["generation_seconds"] > 0
    gan_config = json.loads((group / "gan" / "config.json").read_text())
    assert gan_config["data"]["train_fraction"] == 0.01 and gan_config["num_seeds"] == 2
    assert gan_config["data"]["subset_seed"] == -1  # each replica: its own seed's subset
    assert gan_config["diffaug_policy"] == "color,translation,cutout"
    real_config = ml_collections.ConfigDict(json.loads(
        (group / "classifier_real" / "config.json").read_text()))
    assert not real_config.augment.flip and real_config.augment.crop_pad == 0
    fakes = []
    for seed in (0, 1):
        # The gan condition's set: the real subset (the real condition's, image for image),
        # then this seed's generated set, balanced over the classes.
        subset = data.balanced_subset("fashion_mnist", "train", 0.01, seed=seed)
        mixed_images, mixed_labels = data.load_arrays(group / f"seed_{seed}" /
                                                      "real_and_generated.npz")
        fake_images, fake_labels = data.load_arrays(group / f"seed_{seed}" / "generated.npz")
        np.testing.assert_array_equal(mixed_images[:600], real_images[subset])
        np.testing.assert_array_equal(mixed_labels[:600], real_labels[subset])
        np.testing.assert_array_equal(mixed_images[600:], fake_images)
        np.testing.assert_array_equal(mixed_labels[600:], fake_labels)
        assert np.array_equal(np.bincount(fake_labels), [10] * NUM_CLASSES)
        fakes.append(fake_images)
        replica = resolve_seed_fields(with_fields(real_config, seed=seed, num_seeds=1))
        np.testing.assert_array_equal(data.training_set(replica.data)[0], real_images[subset])
    assert not np.array_equal(fakes[0], fakes[1])  # each seed's own GAN
    # The table: one row per fraction, one column per condition, mean ± std in %.
    rows = [line for line in (workdir / "table.md").read_text().splitlines()
            if line.startswith("|")]
    assert rows[0] == "| fraction | real | gan |" and len(rows) == 3
    expected = []
    for c in ("real", "gan"):
        values = [100 * results["runs"][f"f0.01_s{s}/{c}"]["test_accuracy"] for s in (0, 1)]
        expected.append(f"{np.mean(values):.2f} ± {np.std(values, ddof=1):.2f} (2 seeds)")
    assert rows[2] == "| 0.01 | " + " | ".join(expected) + " |"
    assert rows[2] in out  # printed
    with Image.open(workdir / "plot.png") as plot:
        assert plot.format == "PNG" and plot.size[0] > 100
    # A rerun trains nothing: no new checkpoint, metrics, generated images or results.
    before, table = _snapshot(workdir), (workdir / "table.md").read_text()
    assert any("checkpoints" in name for name in before)
    proc = run_experiment(MODULE, workdir, *TINY)
    again = proc.communicate(timeout=300)[0]
    assert proc.returncode == 0, again[-3000:]
    assert _snapshot(workdir) == before
    assert (workdir / "table.md").read_text() == table
    assert rows[2] in again
    # Other settings on the same workdir are refused, not mixed in.
    proc = run_experiment(MODULE, workdir, *TINY, "--classifier_steps=30")
    refused = proc.communicate(timeout=300)[0]
    assert proc.returncode == 2 and "was made with other classifier_steps" in refused


def test_bad_requests_exit_2_with_one_line_before_any_training(tmp_path):
    cases = {"--conditions=real,mixup": "error: unknown conditions ['mixup']",
             "--fractions=0.01,1.5": "error: every fraction must be in (0, 1]",
             "--fractions=0.00001": "leaves no image per class"}  # (this one reads the split)
    procs = {flag: run_experiment(MODULE, tmp_path / str(i), flag)
             for i, flag in enumerate(cases)}
    for i, (flag, proc) in enumerate(procs.items()):
        try:
            out = proc.communicate(timeout=120)[0]
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        lines = [line for line in out.splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("error: ")]
        assert proc.returncode == 2 and errors == lines[-1:], out
        assert cases[flag] in errors[0]
        if "fractions=0.00001" not in flag:  # no data read: nothing else printed at all
            assert len(lines) == 1, out
        assert not (tmp_path / str(i)).exists()


def test_the_study_function_takes_python_lists_and_checks_them_before_any_file(tmp_path):
    assert check_lists([0.1, "0.01"], [2, "0"], ["gan", "real"]) == ([0.01, 0.1], [2, 0],
                                                                     ["gan", "real"])
    assert list(CONDITIONS) == ["real", "classical", "gan", "both"]
    request = dict(fractions=[0.01], seeds=[0], conditions=["real"],
                   gan_config=tiny_cgan_config(), classifier_config=tiny_classifier_config())
    cases = [({"conditions": ["real", "mixup"]},
              r"^unknown conditions \['mixup'\]; choose from \['real', 'classical', 'gan', "
              r"'both'\]$"),
             ({"fractions": [0.01, 1.5]}, r"^every fraction must be in \(0, 1\] and at least "
              r"one fraction and one seed are needed; got --fractions=\[0.01, 1.5\] "
              r"--seeds=\[0\]$"),
             ({"seeds": [0.5]}, r"^--fractions takes numbers and --seeds integers: 0.5 is not"),
             ({"seeds": ["x"]}, r"^--fractions takes numbers and --seeds integers: invalid"),
             ({"seeds": [1, "1"]}, r"^--seeds repeats a value: \[1, 1\]$"),
             ({"gan_steps": 0}, r"^--gan_steps must be a positive integer, got 0$")]
    for change, message in cases:
        with pytest.raises(UserError, match=message):
            augmentation_study(tmp_path / "study", **{**request, **change})
    assert not (tmp_path / "study").exists()


def test_seeds_run_in_groups_of_consecutive_integers_and_replicas_follow_their_seed():
    assert seed_groups([0, 1, 2, 5, 7, 8]) == [[0, 1, 2], [5], [7, 8]]
    assert seed_groups([3, 2]) == [[3], [2]]
    assert group_name(0.01, [4]) == "f0.01_s4" and group_name(0.1, [0, 1, 2]) == "f0.1_s0-2"
    config = tiny_classifier_config(**{"seed": 5, "data.subset_seed": -1,
                                       "data.train_arrays": "cells/seed_{seed}/mixed.npz"})
    resolved = resolve_seed_fields(config)
    assert resolved.data.subset_seed == 5 and resolved.data.train_arrays == \
        "cells/seed_5/mixed.npz"
    assert resolve_seed_fields(tiny_classifier_config()) == tiny_classifier_config()
    with pytest.raises(UserError, match=r"data.subset_seed must be an integer >= -1 \(-1: the "
                                        r"run's seed\), got -2"):
        data.subset_fields(tiny_classifier_config(**{"data.subset_seed": -2}).data)
    unresolved = tiny_classifier_config(**{"data.subset_seed": -1, "data.train_fraction": 0.01})
    with pytest.raises(UserError, match="resolve it first"):
        data.training_set(unresolved.data)
    assert len(data.training_set(resolve_seed_fields(unresolved).data)[1]) == 600
