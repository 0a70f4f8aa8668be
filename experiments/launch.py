"""What every experiment script shares: its flags' conventions and how it runs.

A script defines its flags at module level and calls `launch.command(main)`:
absl parses the flags, `main()` calls one genjax function, and every error a
user can cause ends as one `error: ...` line on stderr, nothing else:

- a bad flag (unknown, mistyped `--config.<field>`, a value of the wrong type, a
  config file that does not exist), a config, data or workdir error: status 2;
- a NaN or Inf in training (`NonFiniteError`, the last good checkpoint kept): 3;
- anything unexpected: status 1, its first line only; `--verbose` shows the traceback.

Every command takes `--coordinator_address`, `--num_processes` and `--process_id`
(or JAX's environment variables, or a cluster JAX detects) and starts
`jax.distributed` before anything else (`genjax.distributed`).

Training scripts call `launch.train(default_config)`: the flax-examples flags
`--config=<file>` (with `--config.a.b=value` overrides, locked against typos)
and `--workdir=<dir>`, then `genjax.train.loop.fit`.

JAX and the training loop are imported only once the flags parse and the config's
common fields pass `genjax.config.check_common`: those mistakes end in about 0.2 s
instead of the 3 s that importing JAX costs here.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
from collections.abc import Callable

from absl import app, flags
from ml_collections import config_flags

from genjax.config import check_common
from genjax.errors import NonFiniteError, UserError

flags.DEFINE_bool("verbose", False, "Show the traceback of an unexpected error.")
flags.DEFINE_string("coordinator_address", None,
                    "Multi-process runs: process 0's host:port (else $JAX_COORDINATOR_ADDRESS).")
flags.DEFINE_integer("num_processes", None,
                     "Multi-process runs: how many processes (else $JAX_NUM_PROCESSES).")
flags.DEFINE_integer("process_id", None,
                     "Multi-process runs: this process's id, 0 to num_processes - 1 "
                     "(else $JAX_PROCESS_ID).")
flags.DEFINE_float("distributed_timeout", None,
                   "Seconds to wait for the coordinator and the other processes "
                   "(default: genjax.distributed.DEFAULT_TIMEOUT_S).")


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def flag_error(err: Exception, argv: list[str]) -> str:
    """One line for an error raised while parsing `argv`."""
    if isinstance(err, flags.Error):
        return _one_line(err)
    text = _one_line(err)
    if isinstance(err, AttributeError):  # config_flags: `--config.<field>` the config lacks
        words = re.findall(r"[A-Za-z_]\w*", text)
        field = words[0] if words else text
        hint = re.search(r'Did you mean \W*"(\w+)"', text)
        given = [a for a in argv if re.match(rf"--\w+(\.\w+)*\.{re.escape(field)}(\.|=|$)", a)]
        where = given[0].split("=")[0] if given else f"a --config override ({field!r})"
        fix = f"did you mean {hint.group(1)!r}?" if hint else "check its spelling"
        return f"{where}: the config has no field {field!r}; {fix}"
    if isinstance(err, OSError) and "Failed loading config file" in text:
        path = re.search(r"Attempted \[[^]]*\]: (\S+)", text)
        given = [a.split("=", 1)[1] for a in argv if re.match(r"--\w+=\S+\.py$", a)]
        name = path.group(1) if path else (given[0] if given else "")
        reason = re.search(r"\[Errno \d+\] ([^:]+)", text)
        return (f"config file {name} cannot be loaded"
                + (f": {reason.group(1).lower()}" if reason else " (check the path)"))
    return f"{type(err).__name__}: {text}"


def _exit_flag_error(err: Exception, argv: list[str]):
    print(f"error: {flag_error(err, argv)}", file=sys.stderr)
    sys.exit(2)


def define_config(name: str, default: str, help_text: str) -> None:
    """`--<name>=<config file>` with `--<name>.<field>=value` overrides, locked against typos.

    config_flags reads the overrides from the command line when the flag is defined,
    so a mistyped field fails here: it ends as one line, like every flag error.
    """
    try:
        config_flags.DEFINE_config_file(name, default, help_text, lock_config=True)
    except Exception as err:
        _exit_flag_error(err, sys.argv[1:])


def _parse_flags(argv: list[str]) -> list[str]:
    try:
        remaining = flags.FLAGS(argv)
        for name in list(flags.FLAGS):  # config files load lazily: load them now
            value = getattr(flags.FLAGS, name)
            if type(value).__name__ == "_ErrorConfig":  # a config file that failed to load
                value.to_dict()  # raises its error
        return remaining
    except Exception as err:  # absl's and config_flags' own errors end as one line
        _exit_flag_error(err, argv[1:])


def _quiet_libraries(record: logging.LogRecord) -> bool:
    """orbax logs every save and tfds every split it opens at INFO: keep their warnings, drop
    their chatter, and drop tfds's warning about the empty folder it makes for a dataset
    that is not there yet (the error that follows says what to do)."""
    if "/orbax/" in record.pathname or "/tensorflow_datasets/" in record.pathname:
        return (record.levelno >= logging.WARNING
                and "has no dataset_info.json" not in record.getMessage())
    return True


def command(main: Callable[[], object], check: Callable[[], object] | None = None) -> None:
    """Parse the flags and run `main()`, with errors as one line (see the module docstring).

    `check()`, if given, runs first, before JAX is imported: checks that need nothing heavy.
    """

    def run(argv):
        if len(argv) > 1:
            print(f"error: unexpected arguments {argv[1:]}; flags take the form --name=value",
                  file=sys.stderr)
            sys.exit(2)
        logging.getLogger("absl").addFilter(_quiet_libraries)
        # JAX logs at INFO that it found no TPU on every start: not news on a CPU or GPU.
        logging.getLogger("jax._src.xla_bridge").setLevel(logging.WARNING)
        with errors_exit(verbose=flags.FLAGS.verbose):
            if check is not None:
                check()
            from genjax import distributed  # imports JAX

            f = flags.FLAGS
            timeout = (distributed.DEFAULT_TIMEOUT_S if f.distributed_timeout is None
                       else f.distributed_timeout)
            distributed.initialize(f.coordinator_address, f.num_processes, f.process_id,
                                   timeout_s=timeout)
            main()

    app.run(run, flags_parser=_parse_flags)


def train(default_config: str) -> None:
    """A training script: `--config` and `--workdir`, then `fit`."""
    flags.DEFINE_string("workdir", None, "Directory for checkpoints, logs and outputs.",
                        required=True)
    define_config("config", default_config, "Experiment config file.")

    def main():
        from genjax.train.loop import fit  # imports JAX, flax and the tasks

        fit(flags.FLAGS.config, flags.FLAGS.workdir)

    command(main, check=lambda: check_common(flags.FLAGS.config))


@contextlib.contextmanager
def errors_exit(verbose: bool = False):
    """Errors inside become one stderr line and an exit status (see the module docstring)."""
    try:
        yield
    except UserError as err:
        print(f"error: {_one_line(err)}", file=sys.stderr)
        sys.exit(2)
    except NonFiniteError as err:
        print(f"error: {_one_line(err)}", file=sys.stderr)
        sys.exit(3)
    except Exception as err:
        if verbose:
            raise
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        print(f"error: {type(err).__name__}: {first} (run again with --verbose for the "
              "traceback)", file=sys.stderr)
        sys.exit(1)
