"""tfds pipelines: dataset name -> deterministic numpy batch iterators."""

from genjax.data.pipeline import (
    IMAGE_RANGES,
    array_train_iterator,
    check_dataset,
    data_dir,
    eval_iterator,
    first_examples,
    load_arrays,
    load_split,
    num_examples,
    process_slice,
    save_arrays,
    to_uint8,
    train_iterator,
)
from genjax.data.registry import DATASETS
from genjax.data.subsets import (
    balanced_indices,
    balanced_subset,
    check_training_set,
    subset_fields,
    take_fraction,
    training_set,
)

__all__ = ["DATASETS", "IMAGE_RANGES", "array_train_iterator", "balanced_indices",
           "balanced_subset", "check_dataset", "check_training_set", "data_dir",
           "eval_iterator", "first_examples", "load_arrays", "load_split", "num_examples",
           "process_slice", "save_arrays", "subset_fields", "take_fraction", "to_uint8",
           "train_iterator", "training_set"]
