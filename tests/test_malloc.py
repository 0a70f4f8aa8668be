"""genjax.malloc: re-executing a command under tcmalloc, once, with its arguments kept."""

import os
import subprocess
import sys

import pytest

from genjax.malloc import tcmalloc_path

PROBE = ("from genjax.malloc import reexec_with_tcmalloc; reexec_with_tcmalloc(); "
         "import os, sys; print(os.environ.get('LD_PRELOAD', '')); print(sys.argv[1:])")


def _run(**env_changes):
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "GENJAX_TCMALLOC")}
    env.update(env_changes)
    out = subprocess.run([sys.executable, "-c", PROBE, "a", "--b=1"], env=env, check=True,
                         capture_output=True, text=True).stdout.splitlines()
    return out[0], out[1]


@pytest.mark.skipif(tcmalloc_path() is None, reason="libtcmalloc-minimal4 not installed")
def test_reexec_preloads_tcmalloc_and_keeps_the_arguments():
    preload, argv = _run()
    assert preload == tcmalloc_path()
    assert argv == "['a', '--b=1']"
    # an existing preload is kept after tcmalloc
    preload, _ = _run(LD_PRELOAD="/nonexistent/libx.so")
    assert preload == f"{tcmalloc_path()}:/nonexistent/libx.so"


def test_reexec_is_skipped_when_disabled_or_already_loaded():
    assert _run(GENJAX_TCMALLOC="0")[0] == ""
    assert _run(LD_PRELOAD="/x/libtcmalloc.so")[0] == "/x/libtcmalloc.so"
