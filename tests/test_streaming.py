"""The bounds on polars' streaming memory, and that the command line sets them in time."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from calhousing import config

MiB = 2**20


@pytest.mark.parametrize(
    ("threads", "chunk"),
    [(1, 4 * MiB), (2, 8 * MiB), (3, 3728270), (4, 2 * MiB), (8, MiB // 2), (64, MiB // 2)],
)
def test_csv_morsels_shrink_as_threads_grow(threads, chunk):
    assert config.csv_chunk_bytes(threads) == chunk


def test_bounds_are_set_unless_the_user_set_them(monkeypatch):
    monkeypatch.delenv("POLARS_IDEAL_MORSEL_SIZE", raising=False)
    monkeypatch.setenv("POLARS_ROW_GROUP_PREFETCH_SIZE", "7")
    config.bound_memory()
    assert os.environ["POLARS_IDEAL_MORSEL_SIZE"] == "25000"
    assert os.environ["POLARS_ROW_GROUP_PREFETCH_SIZE"] == "7"


def test_the_command_line_sets_them_before_polars_is_imported():
    # polars reads its morsel size when it is imported: importing the CLI must not import it
    probe = (
        "import json, os, sys\n"
        "import calhousing.cli as cli\n"
        "before = 'polars' in sys.modules\n"
        "try:\n"
        "    cli.main(['predict', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(json.dumps([before, os.environ.get('POLARS_IDEAL_MORSEL_SIZE')]))\n"
    )
    env = {"PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True
    )
    assert json.loads(done.stdout.splitlines()[-1]) == [False, "25000"]
