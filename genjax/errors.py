"""Errors a user can cause and fix: shown as one line, never as a stack trace."""


class UserError(ValueError):
    """A problem with the user's input (config, data, workdir) and how to fix it.

    Entry scripts catch it and print `str(err)` as a single line before exiting
    with status 2; everything that can raise it runs before any compilation.
    """


class NonFiniteError(RuntimeError):
    """A loss or metric became NaN or Inf; the message names the step and metric."""


def check_counts(**counts: int) -> None:
    """A one-line `UserError` for the first count below 1: check_counts(num_samples=0) says
    "num_samples must be at least 1, got 0"."""
    for name, value in counts.items():
        if value < 1:
            raise UserError(f"{name} must be at least 1, got {value}")
