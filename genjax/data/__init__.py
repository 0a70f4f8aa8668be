"""tfds pipelines: dataset name -> deterministic numpy batch iterators."""

from genjax.data.pipeline import (
    IMAGE_RANGES,
    check_dataset,
    data_dir,
    eval_iterator,
    load_split,
    num_examples,
    train_iterator,
)
from genjax.data.registry import DATASETS

__all__ = ["DATASETS", "IMAGE_RANGES", "check_dataset", "data_dir", "eval_iterator",
           "load_split", "num_examples", "train_iterator"]
