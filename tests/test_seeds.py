"""K seeds in one compiled program (`config.num_seeds`, genjax/train/seeds.py).

Replica k of a K-seed run is the single-seed run with seed `seed + k`.

With `seeds_mode="loop"` the program holds the single-seed step K times, and a
replica's parameters, optimizer state, key and logged metrics equal the single run's
bit for bit; only the BatchNorm running statistics differ, by at most 1 ulp (XLA fuses
their update differently: 2.4e-7 measured, 1e-6 checked).

With vmap (the default), to float tolerance, not bit for bit: vmap turns each
replica's convolutions and matmuls into one batched XLA op, which rounds differently
on CPU (a first step's loss can differ in the last bit). Measured here over 20
classifier steps (2 seeds):

- the biases that feed a BatchNorm have an exact gradient of zero, so their gradient
  is rounding noise that Adam normalises into steps of about lr: they moved apart by
  up to 8e-3, within the bound of 2 * lr per step checked below, and so did the
  BatchNorm running means that hold them (6e-3);
- the other parameters agree to 6e-8 (checked: 1e-6), the train loss to 1.1e-7
  relative (checked: 1e-6), the train accuracy exactly;
- evaluation uses those running means: the eval loss agreed to 6e-4 relative and the
  accuracy to 0.1 points (checked: 2e-3 relative, 0.5 points).

A resumed K-seed run, the same program, is bit for bit the uninterrupted one.
"""

import json
import shutil

import jax
import numpy as np
import pytest

from genjax.config import with_fields
from genjax.errors import UserError
from genjax.io.writers import read_jsonl
from genjax.studies.evaluation import evaluate_run
from genjax.train import seeds
from genjax.train.loop import fit
from genjax.train.runs import load_replicas, load_run
from genjax.train.tasks import make_task
from tests.conftest import tiny_classifier_config
from tests.test_gan_train import tiny_gan_config

SEED, K, STEPS = 3, 2, 20
BN_FED = ("conv0_0", "conv0_1", "conv1_0", "conv1_1", "fc")  # their biases feed a BatchNorm


def _config(**fields):
    return with_fields(tiny_classifier_config(num_train_steps=STEPS, eval_every=20), **fields)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A 2-seed classifier run (vmap), the same with seeds_mode="loop", and the two
    single-seed runs they replicate."""
    root = tmp_path_factory.mktemp("seeds")
    multi = fit(_config(seed=SEED, num_seeds=K), root / "multi")
    fit(_config(seed=SEED, num_seeds=K, seeds_mode="loop"), root / "multi_loop")
    singles = [fit(_config(seed=SEED + k), root / f"single_{k}") for k in range(K)]
    return root, jax.device_get(multi), [jax.device_get(s) for s in singles]


def _flat(tree):
    return {jax.tree_util.keystr(path): np.asarray(leaf)
            for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]}


def _logs_agree(ours_dir, theirs_dir, *, exact: bool):
    ours, theirs = (read_jsonl(d / "metrics.jsonl") for d in (ours_dir, theirs_dir))
    assert [r["step"] for r in ours] == [r["step"] for r in theirs]
    for mine, ref in zip(ours, theirs, strict=True):
        for name in ("train/loss", "train/accuracy", "eval/loss", "eval/accuracy"):
            if name not in ref:
                continue
            if exact or name == "train/accuracy":
                assert mine[name] == ref[name], name
            elif name == "train/loss":
                np.testing.assert_allclose(mine[name], ref[name], rtol=1e-6)
            elif name == "eval/loss":
                np.testing.assert_allclose(mine[name], ref[name], rtol=2e-3)
            else:
                assert abs(mine[name] - ref[name]) <= 0.005


def test_vmap_replica_k_is_the_single_seed_run_of_seed_plus_k(runs):
    root, multi, singles = runs
    bound = 2 * _config().optimizer.lr * STEPS  # Adam's steps on rounding noise (docstring)
    for k, single in enumerate(singles):
        replica = seeds.replica(multi, k)
        assert int(replica.step) == int(single.step) == STEPS
        np.testing.assert_array_equal(replica.rng, single.rng)  # its own seed's root key
        ours, theirs = _flat(replica.params), _flat(single.params)
        assert ours.keys() == theirs.keys()
        for name, value in ours.items():
            gap = np.max(np.abs(value - theirs[name]))
            bn_fed = name.endswith("['bias']") and any(f"['{m}']" in name for m in BN_FED)
            assert gap <= (bound if bn_fed else 1e-6), (k, name, gap)
        for (name, value), ref in zip(_flat(replica.batch_stats).items(),
                                      jax.tree.leaves(single.batch_stats), strict=True):
            assert np.max(np.abs(value - ref)) <= bound, (k, name)
        _logs_agree(root / "multi" / f"seed_{SEED + k}", root / f"single_{k}", exact=False)


def test_loop_replica_k_is_the_single_seed_run_bit_for_bit(runs):
    root, _, singles = runs
    for k, (run, single) in enumerate(zip(load_replicas(root / "multi_loop"), singles,
                                          strict=True)):
        assert run.config.seed == SEED + k
        theirs = _flat(single)
        for name, value in _flat(jax.device_get(run.state)).items():
            if ".batch_stats" in name:  # the running statistics: 1 ulp (module docstring)
                np.testing.assert_allclose(value, theirs[name], rtol=0, atol=1e-6)
            else:
                np.testing.assert_array_equal(value, theirs[name], err_msg=name)
        _logs_agree(root / "multi_loop" / f"seed_{SEED + k}", root / f"single_{k}", exact=True)


def test_replicas_differ_and_start_from_their_own_seeds(runs):
    _, multi, _ = runs
    stacked = make_task(_config(seed=SEED, num_seeds=K)).init_state()
    for k in range(K):
        single = make_task(_config(seed=SEED + k)).init_state(jax.random.PRNGKey(SEED + k))
        for (path, ours), theirs in zip(
                jax.tree_util.tree_flatten_with_path(seeds.replica(stacked, k))[0],
                jax.tree.leaves(single), strict=True):
            np.testing.assert_array_equal(ours, theirs, err_msg=jax.tree_util.keystr(path))
    a, b = seeds.replica(multi, 0), seeds.replica(multi, 1)
    assert not np.array_equal(a.params["head"]["kernel"], b.params["head"]["kernel"])


def test_logs_hold_each_seed_and_their_mean_and_std(runs):
    root, _, _ = runs
    main = read_jsonl(root / "multi" / "metrics.jsonl")
    per_seed = [read_jsonl(root / "multi" / f"seed_{SEED + k}" / "metrics.jsonl")
                for k in range(K)]
    assert len({len(main), *map(len, per_seed)}) == 1
    checked = 0
    for i, record in enumerate(main):
        for name in ("train/loss", "eval/accuracy"):
            if name in record:
                values = np.array([log[i][name] for log in per_seed])
                np.testing.assert_allclose(record[name], values.mean(), rtol=1e-6)
                np.testing.assert_allclose(record[f"{name}_std"], values.std(ddof=1), rtol=1e-5)
                checked += 1
    assert checked == STEPS // 5 + 1  # every log interval, and the final evaluation
    final = json.loads((root / "multi" / "final_metrics.json").read_text())
    assert {"eval/accuracy", "eval/accuracy_std"} <= final.keys()
    for k in range(K):
        replica_dir = root / "multi" / f"seed_{SEED + k}"
        assert (replica_dir / "predictions.png").is_file()
        assert (replica_dir / "export").is_dir()
        assert any((replica_dir / "tb").iterdir())
        final_k = json.loads((replica_dir / "final_metrics.json").read_text())
        assert final_k["eval/accuracy"] == per_seed[k][-1]["eval/accuracy"]


def test_resumed_multi_seed_run_is_bit_for_bit_the_uninterrupted_one(runs, tmp_path):
    root, multi, _ = runs
    # A run that died after its step-10 checkpoint: the workdir without the later one.
    shutil.copytree(root / "multi", tmp_path, dirs_exist_ok=True)
    shutil.rmtree(tmp_path / "checkpoints" / str(STEPS))
    resumed = jax.device_get(fit(_config(seed=SEED, num_seeds=K), tmp_path))
    for (path, ours), theirs in zip(jax.tree_util.tree_flatten_with_path(resumed)[0],
                                    jax.tree.leaves(multi), strict=True):
        np.testing.assert_array_equal(ours, theirs, err_msg=jax.tree_util.keystr(path))
    steps = [r["step"] for r in read_jsonl(tmp_path / f"seed_{SEED + 1}" / "metrics.jsonl")]
    assert steps == [r["step"] for r in read_jsonl(root / "multi" / f"seed_{SEED + 1}"
                                                   / "metrics.jsonl")]


def test_load_run_needs_a_replica_and_gives_its_slice(runs):
    root, multi, _ = runs
    with pytest.raises(UserError, match=r"holds 2 seeds \(num_seeds=2\); load one with "
                                        r"replica=0\.\.1"):
        load_run(root / "multi")
    with pytest.raises(UserError, match="replica must be an integer in 0..1"):
        load_run(root / "multi", replica=2)
    run = load_run(root / "multi", replica=1)
    assert run.config.seed == SEED + 1 and run.config.num_seeds == 1
    assert run.workdir == root / "multi" / f"seed_{SEED + 1}"
    np.testing.assert_array_equal(run.state.params["head"]["kernel"],
                                  seeds.replica(multi, 1).params["head"]["kernel"])
    assert len(load_replicas(root / "single_0")) == 1


def test_gan_replicas_track_their_single_seed_steps():
    """The GAN step (two networks, EMA, two optimizers) under vmap, 3 steps on real batches."""
    multi = make_task(tiny_gan_config(num_seeds=K))
    state, batches = multi.init_state(), multi.train_batches(0)
    step = jax.jit(multi.train_step)
    single_steps = [jax.jit(t.train_step) for t in multi.tasks]
    singles = [seeds.replica(state, k) for k in range(K)]
    for _ in range(3):
        batch = next(batches)
        state, metrics = step(state, batch)
        for k in range(K):
            singles[k], ref = single_steps[k](singles[k], seeds.replica(batch, k))
            for name, value in ref.items():
                np.testing.assert_allclose(metrics[name][k], value, rtol=1e-4, atol=1e-6,
                                           err_msg=name)
    for k in range(K):
        for ours, theirs in zip(jax.tree.leaves(seeds.replica(state, k).g.params),
                                jax.tree.leaves(singles[k].g.params), strict=True):
            np.testing.assert_allclose(ours, theirs, atol=1e-5)


@pytest.mark.parametrize("value", [0, -2])
def test_num_seeds_below_one_is_refused_before_anything_is_written(tmp_path, value):
    with pytest.raises(UserError, match=r"^num_seeds must be a positive integer \(the number "
                                        r"of replicas trained together\), got"):
        fit(_config(num_seeds=value), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_evaluate_reports_each_seed_and_mean_and_std(tmp_path):
    """The evaluate command's record for a 2-seed DCGAN: per seed, mean and std."""
    fit(tiny_gan_config(num_seeds=K, num_train_steps=4, eval_every=4, checkpoint_every=4,
                        log_every=2), tmp_path)
    record = evaluate_run(tmp_path, num_samples=200, metrics=["classifier_fd"])
    per_seed = np.array([record[f"seed_{s}/classifier_fd"] for s in (0, 1)])
    assert per_seed[0] != per_seed[1]
    np.testing.assert_allclose(record["classifier_fd"], per_seed.mean(), rtol=1e-12)
    np.testing.assert_allclose(record["classifier_fd_std"], per_seed.std(ddof=1), rtol=1e-12)
    assert json.loads((tmp_path / "metrics.json").read_text()) == record
    for s in (0, 1):
        assert (tmp_path / f"seed_{s}" / "samples.png").is_file()


def test_an_unknown_seeds_mode_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(UserError, match=r"^seeds_mode must be one of \['vmap', 'loop'\], "
                                        r"got 'pmap'$"):
        fit(_config(num_seeds=2, seeds_mode="pmap"), tmp_path / "run")
    assert not (tmp_path / "run").exists()
