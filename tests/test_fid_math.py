"""Values of the FID, KID and PRDC math against closed forms and hand-computed cases."""

import numpy as np
import pytest
import scipy.linalg

from genjax.errors import UserError
from genjax.eval import fid, kid, prdc


def _random_cov(rng, dim, rank=None):
    factor = rng.normal(size=(dim, rank or 2 * dim))
    return factor @ factor.T / factor.shape[1]


# ---------------------------------------------------------------- moments


def test_masked_streaming_moments_equal_numpy_on_the_kept_rows():
    rng = np.random.default_rng(0)
    batches = [rng.normal(3.0, 2.0, size=(n, 7)).astype(np.float32) for n in (5, 16, 1, 16, 9)]
    masks = [rng.random(len(b)) < 0.7 for b in batches]
    masks[2][:] = False  # a batch that is all padding changes nothing
    moments = fid.init_moments(7)
    for batch, mask in zip(batches, masks, strict=True):
        before = [np.copy(a) for a in moments[1:]]
        updated = fid.update_moments(moments, batch, mask)
        for old, new in zip(before, moments[1:], strict=True):
            np.testing.assert_array_equal(old, new)  # a pure update: input untouched
        moments = updated
    kept = np.concatenate([b[m] for b, m in zip(batches, masks, strict=True)]).astype(np.float64)
    mu, sigma = fid.mean_and_cov(moments)
    assert moments.count == len(kept)
    np.testing.assert_allclose(mu, kept.mean(axis=0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(sigma, np.cov(kept, rowvar=False), rtol=1e-10, atol=1e-12)


def test_moments_stay_accurate_far_from_the_origin():
    # E[xx^T] - mu mu^T would lose all digits here; the pairwise update does not
    rng = np.random.default_rng(1)
    features = 1e6 + rng.normal(size=(4000, 3))
    moments = fid.init_moments(3)
    for batch in np.split(features, 40):
        moments = fid.update_moments(moments, batch)
    np.testing.assert_allclose(fid.mean_and_cov(moments)[1], np.cov(features, rowvar=False),
                               rtol=1e-8, atol=1e-10)


def test_moments_reject_wrong_shapes():
    with pytest.raises(UserError, match="features must be"):
        fid.update_moments(fid.init_moments(4), np.zeros((2, 5)))
    with pytest.raises(UserError, match="mask has 3 rows"):
        fid.update_moments(fid.init_moments(4), np.zeros((2, 4)), np.ones(3, bool))


# ---------------------------------------------------------------- Fréchet distance


@pytest.mark.parametrize("num_samples", [500, 40])  # full rank, and rank 39 < 64
def test_fid_of_a_set_with_itself_is_zero(num_samples):
    features = np.random.default_rng(2).normal(size=(num_samples, 64))
    mu, sigma = fid.feature_statistics(features)
    assert abs(fid.frechet_distance(mu, sigma, mu, sigma)) < 1e-12 * np.trace(sigma)


def test_fid_of_gaussians_matches_closed_form():
    # with commuting covariances Q diag(a) Q^T and Q diag(b) Q^T the trace term is
    # sum_i (sqrt(a_i) - sqrt(b_i))^2
    rng = np.random.default_rng(3)
    dim = 32
    mu1, mu2 = rng.normal(size=dim), rng.normal(size=dim)
    a, b = rng.uniform(0.1, 4.0, dim), rng.uniform(0.1, 4.0, dim)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert fid.frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected,
                                                                                  rel=1e-10)
    q, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    rotated = fid.frechet_distance(mu1, q @ np.diag(a) @ q.T, mu2, q @ np.diag(b) @ q.T)
    assert rotated == pytest.approx(expected, rel=1e-9)


def test_fid_matches_scipy_sqrtm_and_is_symmetric():
    rng = np.random.default_rng(4)
    mu1, mu2 = rng.normal(size=48), rng.normal(size=48)
    s1, s2 = _random_cov(rng, 48), _random_cov(rng, 48)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * covmean)
    assert fid.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-9)
    assert fid.frechet_distance(mu2, s2, mu1, s1) == pytest.approx(expected, rel=1e-9)


def test_fid_from_samples_of_two_gaussians_approaches_closed_form():
    rng = np.random.default_rng(5)
    x = rng.normal(0.0, 1.0, size=(20000, 4))
    y = rng.normal(0.5, 2.0, size=(20000, 4))
    expected = 4 * 0.5**2 + 4 * (2.0 - 1.0) ** 2
    assert fid.fid_from_features(x, y) == pytest.approx(expected, rel=0.03)


# ---------------------------------------------------------------- KID


def _mmd2_by_loops(x, y):
    def k(a, b):
        return (a @ b / len(a) + 1) ** 3
    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_mmd2_equals_the_u_statistic_written_out():
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(7, 5)), rng.normal(1.0, size=(6, 5))
    assert kid.mmd2_unbiased(x, y) == pytest.approx(_mmd2_by_loops(x, y), rel=1e-12)
    # one subset holding every row is a permutation of the full sets: same value
    mean, std = kid.kernel_inception_distance(x[:6], y, num_subsets=3, subset_size=6)
    assert mean == pytest.approx(_mmd2_by_loops(x[:6], y), rel=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_kid_is_near_zero_for_one_distribution_and_positive_for_shifted():
    rng = np.random.default_rng(7)
    real = rng.normal(size=(1000, 16))
    same = rng.normal(size=(1000, 16))
    shifted = rng.normal(0.5, 1.0, size=(1000, 16))
    same_mean, same_std = kid.kernel_inception_distance(real, same, num_subsets=20,
                                                        subset_size=200)
    shifted_mean, shifted_std = kid.kernel_inception_distance(real, shifted, num_subsets=20,
                                                              subset_size=200)
    assert abs(same_mean) < 3 * same_std / np.sqrt(20) + 1e-3
    assert shifted_mean > 20 * shifted_std / np.sqrt(20)
    assert shifted_mean > 100 * abs(same_mean)


# ---------------------------------------------------------------- PRDC


def test_prdc_by_hand_in_one_dimension():
    real = np.array([[0.0], [1.0], [2.0], [3.0]])
    fake = np.array([[0.5], [10.0]])
    # k=1: real radii are all 1 and fake radii 9.5. 0.5 lies in the balls of 0 and 1,
    # 10 in none: precision 1/2, density (2 + 0) / (1 * 2) = 1. Every real point is
    # within 9.5 of 0.5: recall 1. Reals 0 and 1 have a fake within 1: coverage 1/2.
    for block_size in (1, 3, 1024):
        result = prdc.prdc(real, fake, k=1, block_size=block_size)
        assert result == {"precision": 0.5, "recall": 1.0, "density": 1.0, "coverage": 0.5}


def test_prdc_of_identical_sets_is_one_and_of_distant_sets_zero():
    rng = np.random.default_rng(8)
    real = rng.normal(size=(300, 32))
    same = prdc.prdc(real, real, block_size=128)
    assert same["precision"] == same["recall"] == same["coverage"] == 1.0
    assert 0.9 < same["density"] < 1.6  # each point sits in its own ball and ~k others'
    far = prdc.prdc(real, rng.normal(size=(200, 32)) + 100.0, block_size=128)
    assert far == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


def test_prdc_of_two_samples_of_one_distribution_is_high():
    rng = np.random.default_rng(9)
    result = prdc.prdc(rng.normal(size=(1000, 8)), rng.normal(size=(1000, 8)))
    assert result["precision"] > 0.6 and result["recall"] > 0.6
    # Naeem et al. 2020, sec. 4: for equal distributions E[density] = 1 and, with as
    # many fake as real points, E[coverage] = 1 - 2^-k
    assert result["density"] == pytest.approx(1.0, abs=0.05)
    assert result["coverage"] == pytest.approx(1 - 2.0**-3, abs=0.03)


def test_kth_neighbour_radii_match_a_full_sort():
    x = np.random.default_rng(10).normal(size=(50, 6)).astype(np.float32)
    distances = np.linalg.norm(x[:, None] - x[None], axis=-1)
    expected = np.sort(distances, axis=1)[:, 3]
    np.testing.assert_allclose(prdc.kth_neighbour_radii(x, 3, block_size=16), expected,
                               rtol=1e-5)
