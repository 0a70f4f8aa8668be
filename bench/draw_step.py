"""Train-step throughput of DRAW (the default config) and of the VAE, on this machine.

PYTHONPATH=. .venv/bin/python -m bench.draw_step

Both on real binarised Fashion-MNIST batches of 128 from their own pipelines: one
jitted `train_step` (Adam), timed over 50 steps after 5 warm-up steps, alternating
the two models so that both see the same machine load.
"""

from __future__ import annotations

import os
import platform
import time

STEPS, WARMUP, BATCH = 50, 5, 128


def _runner(module: str):
    import importlib

    import jax

    from genjax.train.tasks import make_task

    config = importlib.import_module(f"experiments.configs.{module}").get_config()
    task = make_task(config)
    state = task.init_state(jax.random.PRNGKey(0))
    step = jax.jit(task.train_step, donate_argnums=0)
    batches = task.train_batches(0)
    holder = {"state": state}

    def run(n):
        for _ in range(n):
            holder["state"], metrics = step(holder["state"], next(batches))
        jax.block_until_ready(metrics)

    return config, run


def main() -> None:
    import jax

    print("command: PYTHONPATH=. .venv/bin/python -m bench.draw_step")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, jax {jax.__version__} "
          f"({jax.default_backend()}), LD_PRELOAD={os.environ.get('LD_PRELOAD', '')!r}; "
          f"load average before {os.getloadavg()[0]:.2f}")
    runners = {}
    for name in ("draw", "vae"):
        start = time.perf_counter()
        config, run = _runner(name)
        run(WARMUP)
        runners[name] = (config, run)
        seconds = time.perf_counter() - start
        print(f"{name}: first {WARMUP} steps (compile included) {seconds:.1f} s")
    times = {name: [] for name in runners}
    for _ in range(5):  # alternate in rounds of STEPS / 5
        for name, (_, run) in runners.items():
            start = time.perf_counter()
            run(STEPS // 5)
            times[name].append(time.perf_counter() - start)
    for name, (config, _) in runners.items():
        seconds = sum(times[name])
        m = config.model
        detail = (f"T={m.num_steps}, read {m.read_size}, write {m.write_size}, "
                  f"LSTM {m.lstm_size}, z {m.latent_dim}" if name == "draw" else
                  f"latent {m.latent_dim}, widths {tuple(m.widths)}")
        print(f"{name} ({detail}): {STEPS / seconds:.2f} steps/s = "
              f"{STEPS * BATCH / seconds:.0f} images/s")
    print(f"load average after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    from genjax.malloc import reexec_with_tcmalloc

    reexec_with_tcmalloc()
    main()
