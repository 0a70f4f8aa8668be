"""flax.linen modules only: no optimizers, losses or loops."""
