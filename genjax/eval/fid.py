"""Fréchet Inception Distance: streaming feature moments and the Fréchet distance.

FID (Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule Converge to a
Local Nash Equilibrium", eq. 6) is the Fréchet (2-Wasserstein) distance between two
Gaussians fitted to Inception pool3 features:

    d^2 = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1^1/2 S2 S1^1/2)^1/2).

The last term is written in its symmetric form: S1^1/2 S2 S1^1/2 is symmetric positive
semi-definite and similar to S1 S2, so its square root's trace is the sum of the
square roots of its eigenvalues, found with `eigh` in float64; eigenvalues below
numpy's rank tolerance (d * eps * max) are round-off and count as 0. This avoids
`scipy.linalg.sqrtm` of the non-symmetric S1 S2, whose complex round-off the usual
implementations discard, and stays exact when covariances are singular (fewer
samples than 2048 features): FID of a set with itself is then 0, not ~1e-4.

Moments accumulate in float64 with Chan et al.'s pairwise update (1979, "Updating
formulae and a pairwise algorithm for computing sample variances"): each batch's own
mean and centred scatter are merged in, so no features are kept and no large
E[x x^T] - mu mu^T cancellation occurs. The covariance is unbiased (divides by n - 1),
as np.cov and the reference implementations use. Masks drop the padding rows of
fixed-shape evaluation batches.
"""

from typing import NamedTuple

import numpy as np

from genjax.errors import UserError


class FeatureMoments(NamedTuple):
    """Running count, mean and centred scatter sum((x - mean)(x - mean)^T), float64."""

    count: int
    mean: np.ndarray  # (d,)
    scatter: np.ndarray  # (d, d)


def init_moments(dim: int) -> FeatureMoments:
    return FeatureMoments(0, np.zeros(dim), np.zeros((dim, dim)))


def update_moments(moments: FeatureMoments, features, mask=None) -> FeatureMoments:
    """Merges a (B, d) batch of features, of which only rows with mask True count."""
    batch = np.asarray(features, dtype=np.float64)
    if batch.ndim != 2 or batch.shape[1] != moments.mean.shape[0]:
        raise UserError(f"features must be (batch, {moments.mean.shape[0]}), got {batch.shape}")
    if mask is not None:
        mask = np.asarray(mask, dtype=bool).reshape(-1)
        if mask.shape[0] != batch.shape[0]:
            raise UserError(f"mask has {mask.shape[0]} rows but features have {batch.shape[0]}")
        batch = batch[mask]
    n_batch = batch.shape[0]
    if n_batch == 0:
        return moments
    batch_mean = batch.mean(axis=0)
    centred = batch - batch_mean
    count = moments.count + n_batch
    delta = batch_mean - moments.mean
    mean = moments.mean + delta * (n_batch / count)
    # the merge term w delta delta^T rides along as one extra row of the product
    rows = np.vstack([centred, np.sqrt(moments.count * n_batch / count) * delta])
    scatter = rows.T @ rows
    scatter += moments.scatter  # in place on a fresh array: the input stays untouched
    return FeatureMoments(count, mean, scatter)


def mean_and_cov(moments: FeatureMoments) -> tuple[np.ndarray, np.ndarray]:
    """(mu, sigma) with the unbiased covariance, as np.mean / np.cov(rowvar=False)."""
    if moments.count < 2:
        raise UserError(f"need at least 2 samples for a covariance, got {moments.count}")
    return moments.mean.copy(), moments.scatter / (moments.count - 1)


def feature_statistics(features, mask=None) -> tuple[np.ndarray, np.ndarray]:
    """(mu, sigma) of one (N, d) array in a single call."""
    features = np.asarray(features)
    return mean_and_cov(update_moments(init_moments(features.shape[1]), features, mask))


def _clip_null_space(eigenvalues: np.ndarray) -> np.ndarray:
    """Zeroes eigenvalues that are round-off (numpy's matrix_rank tolerance).

    With fewer samples than features most eigenvalues are 0 up to ~1e-16 |S|, and
    summing the square roots of ~2000 such values would shift FID by ~1e-4.
    """
    tolerance = eigenvalues.max(initial=0.0) * eigenvalues.shape[0] * np.finfo(np.float64).eps
    return np.where(eigenvalues > tolerance, eigenvalues, 0.0)


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    eigenvalues, eigenvectors = np.linalg.eigh(matrix)
    return (eigenvectors * np.sqrt(_clip_null_space(eigenvalues))) @ eigenvectors.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Squared Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2), float64."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    dim = mu1.shape[0]
    if mu2.shape != (dim,) or sigma1.shape != (dim, dim) or sigma2.shape != (dim, dim):
        raise UserError(f"Fréchet distance needs mu (d,) and sigma (d, d) for both sets, got "
                        f"{mu1.shape}, {sigma1.shape}, {mu2.shape}, {sigma2.shape}")
    sigma1 = (sigma1 + sigma1.T) / 2
    sigma2 = (sigma2 + sigma2.T) / 2
    root1 = _psd_sqrt(sigma1)
    product = root1 @ sigma2 @ root1
    eigenvalues = np.linalg.eigvalsh((product + product.T) / 2)
    trace_sqrt = np.sqrt(_clip_null_space(eigenvalues)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt)


def fid_from_features(features1, features2) -> float:
    """FID between two (N, d) feature arrays."""
    return frechet_distance(*feature_statistics(features1), *feature_statistics(features2))
