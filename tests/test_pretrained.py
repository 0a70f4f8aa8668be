"""The shipped Fashion-MNIST classifier: loadable by name, checksummed, and accurate."""

import shutil

import jax
import numpy as np
import pytest

from genjax import data
from genjax.errors import UserError
from genjax.models import pretrained


def test_shipped_classifier_reaches_its_accuracy_on_the_real_test_split():
    model, variables, description = pretrained.load("fashion_mnist_cnn")
    assert description["dataset"] == "fashion_mnist"
    apply = jax.jit(lambda x: model.apply(variables, x).argmax(-1))
    correct = count = 0
    for batch in data.eval_iterator("fashion_mnist", batch_size=1000, image_range="[0,1]",
                                    with_labels=True):
        predicted = np.asarray(apply(batch["image"]))
        correct += int(((predicted == batch["label"]) & batch["mask"]).sum())
        count += int(batch["mask"].sum())
    assert count == 10000
    assert correct / count == pytest.approx(0.9366, abs=1e-4)  # as recorded in the README
    features = model.apply(variables, batch["image"][:4], method=model.features)
    assert features.shape == (4, 128) and float(features.min()) >= 0.0  # post-ReLU


def test_damaged_weights_are_refused(tmp_path):
    copy = tmp_path / "cnn"
    shutil.copytree(pretrained.ASSETS / "fashion_mnist_cnn", copy)
    pretrained.load(copy)
    blob = bytearray((copy / pretrained.VARIABLES_FILE).read_bytes())
    blob[-1] ^= 1
    (copy / pretrained.VARIABLES_FILE).write_bytes(bytes(blob))
    with pytest.raises(UserError, match="is damaged"):
        pretrained.load(copy)
    with pytest.raises(UserError, match="no pretrained network 'resnet'"):
        pretrained.load("resnet")
