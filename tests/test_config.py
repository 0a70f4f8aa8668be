"""genjax.config's dotted-field setters: what --config.a.b=value does, from Python."""

import pytest

from experiments.configs import dcgan
from genjax.config import set_fields, with_fields


def test_set_fields_sets_nested_fields_in_place_and_refuses_typos_when_locked():
    config = dcgan.get_config()
    assert set_fields(config, **{"loss.name": "hinge", "batch_size": 64}) is config
    assert (config.loss.name, config.batch_size) == ("hinge", 64)
    with pytest.raises(KeyError, match="nmae"):
        set_fields(config, **{"loss.nmae": "hinge"})


def test_with_fields_returns_a_copy_that_may_add_fields():
    config = dcgan.get_config()
    changed = with_fields(config, **{"loss.name": "lsgan", "loss.extra": 2})
    assert (changed.loss.name, changed.loss.extra) == ("lsgan", 2)
    assert config.loss.name == "nonsaturating" and "extra" not in config.loss
