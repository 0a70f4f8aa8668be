"""Errors a user can cause and fix: shown as one line, never as a stack trace."""


class UserError(ValueError):
    """A problem with the user's input (config, data, workdir) and how to fix it.

    Entry scripts catch it and print `str(err)` as a single line before exiting
    with status 2; everything that can raise it runs before any compilation.
    """


class NonFiniteError(RuntimeError):
    """A loss or metric became NaN or Inf; the message names the step and metric."""
