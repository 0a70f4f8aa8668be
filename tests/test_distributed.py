"""Real multi-process runs: 2 processes on localhost through `jax.distributed` (gloo CPU
collectives), against 1 process with the same global batch and seed.

The 1-process side runs with 2 host devices, the same 2-device mesh as 2 processes of
1 device each: then the whole training state (parameters, BatchNorm statistics,
optimizer state, rng) is equal bit for bit, as are the logged losses and evaluations.
(Against 1 process on 1 device the gradient is summed in another order; the runs then
agree to float32 rounding only, and training amplifies that: see
bench/distributed.txt for the measured drift.)
"""

import json
import signal
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from genjax import distributed
from genjax.errors import UserError
from genjax.train.runs import load_run
from tests.conftest import ROOT, run_experiment

CLASSIFIER = ["--config.model.widths=(4,8)", "--config.model.hidden=16",
              "--config.batch_size=32", "--config.eval_batch_size=500",
              "--config.log_every=5", "--config.eval_every=20", "--config.checkpoint_every=10",
              "--config.optimizer.warmup_steps=2"]
GAN = ["--config.model.width=8", "--config.model.latent_dim=16", "--config.batch_size=32",
       "--config.eval_batch_size=64", "--config.num_train_steps=20", "--config.log_every=5",
       "--config.eval_every=10", "--config.checkpoint_every=10",
       "--config.eval_num_samples=500"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


TWO_DEVICES = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}


def launch(module: str, workdir, *flags, processes: int = 1) -> list[subprocess.Popen]:
    """Start `processes` copies of the command, joined through a coordinator on localhost.

    processes=1 runs one process with 2 host devices: the same 2-device mesh as
    2 processes of 1 device each."""
    if processes == 1:
        return [run_experiment(module, workdir, *flags, env=TWO_DEVICES)]
    address = f"--coordinator_address=127.0.0.1:{_free_port()}"
    return [run_experiment(module, workdir, *flags, address, f"--num_processes={processes}",
                           f"--process_id={i}") for i in range(processes)]


def finish(procs, timeout=600) -> list[str]:
    outs = []
    for proc in procs:
        out, _ = proc.communicate(timeout=timeout)
        assert proc.returncode == 0, out[-3000:]
        outs.append(out)
    return outs


def run(module, workdir, *flags, processes=1) -> list[str]:
    return finish(launch(module, workdir, *flags, processes=processes))


def records(workdir) -> list[dict]:
    return [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]


def scalars(workdir, name) -> dict[int, float]:
    return {r["step"]: r[name] for r in records(workdir) if name in r}


def assert_same_state(workdir_a, workdir_b, step):
    """The whole training state of two runs' checkpoint `step`, equal bit for bit."""
    a, b = load_run(workdir_a, step), load_run(workdir_b, step)
    assert a.step == b.step == step
    leaves_a = jax.tree_util.tree_leaves_with_path(jax.device_get(a.state))
    leaves_b = jax.tree.leaves(jax.device_get(b.state))
    assert len(leaves_a) == len(leaves_b) > 10
    for (path, x), y in zip(leaves_a, leaves_b, strict=True):
        np.testing.assert_array_equal(x, y, err_msg=jax.tree_util.keystr(path))
    return a


def test_classifier_on_two_processes_matches_one_and_resumes_across_counts(tmp_path):
    steps = "--config.num_train_steps=60"
    one, two = tmp_path / "one", tmp_path / "two"
    first = launch("experiments.classifier", one, *CLASSIFIER, steps)
    finish(launch("experiments.classifier", two, *CLASSIFIER, steps, processes=2))
    finish(first)
    trained = assert_same_state(one, two, 60)
    assert abs(float(trained.state.step) - 60) == 0
    # The same batches in the same order: the logged training loss step by step.
    loss_one, loss_two = scalars(one, "train/loss"), scalars(two, "train/loss")
    assert sorted(loss_one) == list(range(5, 61, 5)) and loss_two == loss_one
    assert loss_one[60] < loss_one[5] - 0.3  # it trained
    # Evaluation splits the test split over processes: the same count and accuracy.
    acc_one, acc_two = scalars(one, "eval/accuracy"), scalars(two, "eval/accuracy")
    assert sorted(acc_one) == [20, 40, 60] and acc_two == acc_one
    assert scalars(two, "eval/count") == {20: 10000, 40: 10000, 60: 10000}
    # Process 0 alone wrote the single-copy outputs.
    assert (two / "final_metrics.json").is_file() and (two / "export").is_dir()

    # Killed with SIGKILL on 2 processes, resumed on 1; and the reverse.
    for killed_on, resumed_on in ((2, 1), (1, 2)):
        work = tmp_path / f"killed_{killed_on}_{resumed_on}"
        procs = launch("experiments.classifier", work, *CLASSIFIER,
                       "--config.num_train_steps=60", processes=killed_on)
        _wait_for_checkpoint(work, procs)
        for proc in procs:
            proc.send_signal(signal.SIGKILL)
        for proc in procs:
            proc.wait()
        saved = [int(p.name) for p in (work / "checkpoints").iterdir() if p.name.isdigit()]
        assert 10 <= max(saved) < 60
        outs = run("experiments.classifier", work, *CLASSIFIER, steps, processes=resumed_on)
        assert f"at step {max(saved)}" in outs[0]
        assert_same_state(one, work, 60)
        assert scalars(work, "train/loss") == loss_one  # no step twice or skipped


def _wait_for_checkpoint(workdir, procs, timeout=300):
    deadline = time.monotonic() + timeout
    while not ((workdir / "checkpoints").is_dir()
               and any(p.name.isdigit() for p in (workdir / "checkpoints").iterdir())):
        for proc in procs:
            assert proc.poll() is None, proc.stdout.read()[-3000:]
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_gan_on_two_processes_matches_one_and_so_does_its_evaluation(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    first = launch("experiments.dcgan", one, *GAN)
    finish(launch("experiments.dcgan", two, *GAN, processes=2))
    finish(first)
    assert_same_state(one, two, 20)  # G, D, EMA, both optimizers, rng
    assert scalars(two, "train/d_loss") == scalars(one, "train/d_loss")
    # The in-training evaluation (500 samples' classifier FD, split over processes).
    fd_one, fd_two = scalars(one, "eval/classifier_fd"), scalars(two, "eval/classifier_fd")
    assert sorted(fd_one) == [10, 20] and fd_two == fd_one
    assert all(fd > 10 for fd in fd_one.values())
    # The evaluate command on one finished run, on 1 and on 2 processes.
    flags = ["--num_samples=300", "--metrics=classifier_fd"]
    run("experiments.evaluate", one, *flags, "--output=" + str(tmp_path / "e1.json"))
    run("experiments.evaluate", one, *flags, "--output=" + str(tmp_path / "e2.json"),
        processes=2)
    e1 = json.loads((tmp_path / "e1.json").read_text())
    e2 = json.loads((tmp_path / "e2.json").read_text())
    assert e1["num_samples"] == e2["num_samples"] == 300
    assert e2 == e1 and e1["classifier_fd"] > 10
    # FID through ONNX Runtime (the CPU default): each process runs its half of every
    # batch in its own session and the features are gathered in process order.
    flags = ["--num_samples=16", "--batch_size=8", "--metrics=fid"]
    run("experiments.evaluate", one, *flags, "--output=" + str(tmp_path / "f1.json"))
    run("experiments.evaluate", one, *flags, "--output=" + str(tmp_path / "f2.json"),
        processes=2)
    f1 = json.loads((tmp_path / "f1.json").read_text())
    f2 = json.loads((tmp_path / "f2.json").read_text())
    assert f1["fid"] > 50 and f2 == f1


VAE = ["--config.batch_size=64", "--config.num_train_steps=20", "--config.log_every=5",
       "--config.eval_every=10", "--config.checkpoint_every=10", "--config.eval.iwae_samples=4",
       "--config.eval.iwae_examples=300", "--config.eval.iwae_chunk_size=4"]


def test_vae_on_two_processes_matches_one_likelihood_bounds_included(tmp_path):
    """The IWAE bound reads the first 300 test images: shared out between the processes."""
    one, two = tmp_path / "one", tmp_path / "two"
    first = launch("experiments.vae", one, *VAE)
    finish(launch("experiments.vae", two, *VAE, processes=2))
    finish(first)
    assert_same_state(one, two, 20)
    evals = [{k: v for k, v in r.items() if k.startswith("eval/")} for r in records(one)
             if "eval/elbo" in r]
    assert len(evals) == 2 and evals[-1]["eval/iwae_count"] == 300
    assert [{k: v for k, v in r.items() if k.startswith("eval/")} for r in records(two)
            if "eval/elbo" in r] == evals
    assert ((one / "compression.json").read_text() == (two / "compression.json").read_text())
    assert ((one / "samples" / "final_reconstructions.png").read_bytes()
            == (two / "samples" / "final_reconstructions.png").read_bytes())


def test_sigterm_to_one_process_stops_both_at_the_same_checkpoint(tmp_path):
    procs = launch("experiments.classifier", tmp_path, *CLASSIFIER,
                   "--config.num_train_steps=100000", "--config.checkpoint_every=50000",
                   processes=2)
    metrics = tmp_path / "metrics.jsonl"
    while not metrics.exists() or not metrics.read_text():
        for proc in procs:
            assert proc.poll() is None, proc.stdout.read()[-3000:]
        time.sleep(0.05)
    procs[1].send_signal(signal.SIGTERM)
    outs = finish(procs, timeout=120)
    assert all("SIGTERM at step" in out for out in outs)
    stopped = {out.split("SIGTERM at step ")[1].split(":")[0] for out in outs}
    assert len(stopped) == 1
    saved = [int(p.name) for p in (tmp_path / "checkpoints").iterdir() if p.name.isdigit()]
    assert saved == [int(stopped.pop())]
    assert load_run(tmp_path).step == saved[0]


@pytest.mark.parametrize("flags,message", [
    (dict(coordinator_address="127.0.0.1:1234", num_processes=2, process_id=2),
     r"process_id=2 is not in \[0, 2\)"),
    (dict(coordinator_address="127.0.0.1:1234", num_processes=2),
     r"process_id missing; give coordinator_address, num_processes and process_id together"),
    (dict(coordinator_address="localhost", num_processes=2, process_id=0),
     r"coordinator_address must be host:port, got 'localhost'"),
    (dict(coordinator_address="127.0.0.1:1234", num_processes=0, process_id=0),
     r"num_processes must be at least 1"),
])
def test_bad_process_sets_are_one_line_errors(flags, message):
    with pytest.raises(UserError, match=message):
        distributed.resolve(**flags, environ={})


def test_environment_names_the_process_set_and_flags_win():
    env = {"JAX_COORDINATOR_ADDRESS": "10.0.0.1:8476", "JAX_NUM_PROCESSES": "4",
           "JAX_PROCESS_ID": "3"}
    spec = distributed.resolve(environ=env)
    assert (spec.host, spec.port, spec.num_processes, spec.process_id) == ("10.0.0.1", 8476, 4, 3)
    spec = distributed.resolve("[::1]:9000", 2, 1, environ=env)
    assert (spec.host, spec.port, spec.num_processes, spec.process_id) == ("::1", 9000, 2, 1)
    assert distributed.resolve(environ={}) is None


def test_unreachable_coordinator_is_one_line_within_the_timeout(tmp_path):
    port = _free_port()  # nobody listens there
    start = time.monotonic()
    proc = run_experiment("experiments.classifier", tmp_path / "w", *CLASSIFIER,
                          f"--coordinator_address=127.0.0.1:{port}", "--num_processes=2",
                          "--process_id=1", "--distributed_timeout=3")
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert out.strip().splitlines() == [
        f"error: process 1 of 2 cannot reach the coordinator at 127.0.0.1:{port} within 3 s: "
        "start process 0 there, or check the address and port"]
    assert time.monotonic() - start < 60
    assert not (tmp_path / "w").exists()


def test_process_set_env_reaches_a_subprocess():
    """The environment route end to end: jax sees 2 processes, each its own id."""
    port = _free_port()
    code = ("from genjax import distributed; import jax; distributed.initialize(); "
            "print(jax.process_count(), jax.process_index(), jax.device_count())")
    procs = [subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, text=True, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={"PATH": "/usr/bin:/bin", "JAX_PLATFORMS": "cpu",
             "JAX_COORDINATOR_ADDRESS": f"127.0.0.1:{port}", "JAX_NUM_PROCESSES": "2",
             "JAX_PROCESS_ID": str(i), "PYTHONPATH": str(ROOT)}) for i in range(2)]
    outs = [p.communicate(timeout=120)[0].split() for p in procs]
    assert outs == [["2", "0", "2"], ["2", "1", "2"]]
