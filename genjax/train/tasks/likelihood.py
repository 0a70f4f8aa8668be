"""What the VAE and DRAW tasks share: their data, the test ELBO and the IWAE-k bound.

Both are latent-variable models scored the same way, so that their figures
compare: the single-sample ELBO terms summed over the whole eval split
(`eval/<term>` per example, `eval/count`), and, when `eval.iwae_samples` = k
> 0, the importance-weighted bound (Burda et al. 2015) on the first
`eval.iwae_examples` examples: `eval/iwae<k>_nll_nats`, beside
`eval/iwae1_nll_nats` (the k = 1 bound of the same examples and samples) and,
for likelihoods of discrete 8-bit data, `eval/iwae<k>_bits_per_dim`.

A subclass sets `config`, `shape`, `eval_step` (per-batch ELBO sums),
`iwae_sums` (per-batch IWAE sums) and `bits_per_dim` (bool).
"""

from __future__ import annotations

import math

import numpy as np

from genjax import data
from genjax.errors import UserError
from genjax.eval import likelihood as likelihood_eval


def check_iwae_config(e) -> None:
    """One-line errors for the `eval` block's IWAE fields."""
    if e.iwae_samples < 0 or min(e.iwae_examples, e.iwae_batch_size, e.iwae_chunk_size) <= 0:
        raise UserError("eval.iwae_samples must be >= 0 and eval.iwae_examples, "
                        "eval.iwae_batch_size, eval.iwae_chunk_size positive")


class LikelihoodTask:
    """The shared half of the VAE and DRAW tasks (a `LikelihoodBound`)."""

    progress_metric = "loss"
    bits_per_dim = False

    def train_batches(self, start_step: int):
        c = self.config
        return data.train_iterator(c.data.name, split=c.data.train_split, batch_size=c.batch_size,
                                   seed=c.seed, image_range=c.data.image_range,
                                   start_step=start_step)

    def eval_batches(self, batch_size: int, max_examples: int | None = None):
        """The eval split once, in order, with example indices (keys of per-example noise)."""
        c = self.config
        return likelihood_eval.indexed_eval_batches(
            c.data.name, split=c.data.eval_split, batch_size=batch_size,
            image_range=c.data.image_range, max_examples=max_examples)

    def figure_batch(self, num: int) -> dict[str, np.ndarray]:
        """The eval split's first `num` examples, the same on every process (figures)."""
        c = self.config
        return data.first_examples(c.data.name, num, split=c.data.eval_split,
                                   image_range=c.data.image_range)

    def likelihood_metrics(self, state, mesh) -> dict[str, float]:
        """The ELBO terms over the split and the IWAE-k bound (see the module docstring)."""
        c = self.config
        sums = likelihood_eval.split_sums(self.eval_step, state,
                                          self.eval_batches(c.eval_batch_size), mesh)
        count = sums.pop("count")
        metrics = {f"eval/{k}": v / count for k, v in sums.items()}
        metrics["eval/count"] = count
        if c.eval.iwae_samples > 0:
            iwae = self.iwae_bound(state.params, max_examples=c.eval.iwae_examples, mesh=mesh)
            k = iwae["k"]
            metrics[f"eval/iwae{k}_nll_nats"] = iwae["nll_nats"]
            metrics["eval/iwae1_nll_nats"] = -iwae["elbo_nats"]  # same examples and samples
            metrics["eval/iwae_count"] = iwae["count"]
            if "bits_per_dim" in iwae:
                metrics[f"eval/iwae{k}_bits_per_dim"] = iwae["bits_per_dim"]
        return metrics

    def iwae_bound(self, params, *, max_examples: int | None = None, mesh=None) -> dict:
        """L_k, k = eval.iwae_samples, over the eval split (or its first `max_examples`).

        Returns `k`, `count`, `nll_nats` (-mean L_k), `elbo_nats` (mean L_1 with the
        first of the same samples) and, for discrete 8-bit likelihoods, `bits_per_dim`.
        """
        c = self.config
        sums = likelihood_eval.split_sums(
            self.iwae_sums, {"params": params},
            self.eval_batches(c.eval.iwae_batch_size, max_examples), mesh)
        return likelihood_eval.bound_summary(
            sums, k=c.eval.iwae_samples,
            bits_dims=math.prod(self.shape) if self.bits_per_dim else None)
