"""Precision, recall, density and coverage of generated samples, on features.

Each set's manifold is the union of balls around its points, each ball's radius the
distance to the point's k-th nearest neighbour within its own set (the point itself
not counted).

- precision (Kynkaanniemi et al. 2019, "Improved Precision and Recall Metric for
  Assessing Generative Models", eq. 1-2, k = 3): fraction of fake points inside the
  real manifold; recall: fraction of real points inside the fake manifold.
- density (Naeem et al. 2020, "Reliable Fidelity and Diversity Metrics for Generative
  Models", eq. 6): (1 / kM) sum over fake points of the number of real balls holding
  it; about 1 when the two distributions agree, and not bounded by 1.
- coverage (ibid., eq. 7): fraction of real points whose ball holds a fake point.

Balls are closed (distance <= radius), as both papers define them. Distances are
Euclidean, computed in float32 blocks of `block_size` rows as |a|^2 + |b|^2 - 2 a.b
after centring on the joint mean (which keeps the cancellation small), so memory
stays O(block_size * N) and the real-fake distances are computed only once.
"""

import numpy as np

from genjax.errors import UserError


def _squared_norms(x: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", x, x)


def _distance_blocks(a: np.ndarray, b: np.ndarray, block_size: int):
    """Yields (start, distances of a[start:start + block_size] to all of b)."""
    b_norms = _squared_norms(b)
    for start in range(0, a.shape[0], block_size):
        block = a[start:start + block_size]
        squared = _squared_norms(block)[:, None] + b_norms[None, :] - 2.0 * (block @ b.T)
        yield start, np.sqrt(np.maximum(squared, 0.0))


def kth_neighbour_radii(x: np.ndarray, k: int, block_size: int = 1024) -> np.ndarray:
    """Distance from each row of x to its k-th nearest other row of x."""
    radii = np.empty(x.shape[0], x.dtype)
    for start, distances in _distance_blocks(x, x, block_size):
        rows = np.arange(distances.shape[0])
        distances[rows, start + rows] = 0.0  # a point is its own 0-th neighbour
        radii[start:start + distances.shape[0]] = np.partition(distances, k, axis=1)[:, k]
    return radii


def prdc(real_features, fake_features, *, k: int = 3, block_size: int = 1024) -> dict:
    """{'precision', 'recall', 'density', 'coverage'} of (N, d) real vs (M, d) fake."""
    real = np.asarray(real_features, np.float64)
    fake = np.asarray(fake_features, np.float64)
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise UserError(f"PRDC needs two (N, d) feature arrays, got {real.shape} and {fake.shape}")
    if min(real.shape[0], fake.shape[0]) <= k:
        raise UserError(f"PRDC with k={k} needs more than {k} samples per set, "
                        f"got {real.shape[0]} and {fake.shape[0]}")
    centre = np.concatenate([real, fake]).mean(axis=0)
    real = (real - centre).astype(np.float32)
    fake = (fake - centre).astype(np.float32)
    real_radii = kth_neighbour_radii(real, k, block_size)
    fake_radii = kth_neighbour_radii(fake, k, block_size)

    fake_in_real = np.zeros(fake.shape[0], bool)  # for precision
    balls_per_fake = np.zeros(fake.shape[0], np.int64)  # for density
    real_in_fake = np.zeros(real.shape[0], bool)  # for recall
    real_covered = np.zeros(real.shape[0], bool)  # for coverage
    for start, distances in _distance_blocks(real, fake, block_size):
        stop = start + distances.shape[0]
        inside_real_ball = distances <= real_radii[start:stop, None]
        fake_in_real |= inside_real_ball.any(axis=0)
        balls_per_fake += inside_real_ball.sum(axis=0)
        real_in_fake[start:stop] = (distances <= fake_radii[None, :]).any(axis=1)
        real_covered[start:stop] = inside_real_ball.any(axis=1)
    return {
        "precision": float(fake_in_real.mean()),
        "recall": float(real_in_fake.mean()),
        "density": float(balls_per_fake.sum() / (k * fake.shape[0])),
        "coverage": float(real_covered.mean()),
    }
