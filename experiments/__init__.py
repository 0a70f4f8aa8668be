"""Experiment entry scripts: flags -> one genjax function call. No logic of their own.

Run as `python -m experiments.<name>`, every script first re-executes itself under
tcmalloc (genjax/malloc.py: XLA:CPU runs 1.7x faster with it) before anything
heavy is imported; importing the package from other code does nothing.
"""

import sys

if sys.argv[:1] == ["-m"]:  # python -m experiments.<name>: this runs before the module
    from genjax.malloc import reexec_with_tcmalloc

    reexec_with_tcmalloc()
