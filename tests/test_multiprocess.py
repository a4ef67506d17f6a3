"""Metrics across workers: the samples directory prepared before the workers start (the summing itself
is tested on a real two-worker server in tests/test_replicas.py)."""

from __future__ import annotations

import os
from pathlib import Path

from tiler.http.multiprocess import DIRECTORY_VARIABLE, prepare


def test_a_given_directory_loses_an_earlier_runs_samples_and_nothing_else(tmp_path: Path, monkeypatch) -> None:
    stale = tmp_path / "counter_4242.db"
    stale.write_bytes(b"an earlier run's counts")
    other = tmp_path / "notes.txt"
    other.write_text("not ours")
    monkeypatch.setenv(DIRECTORY_VARIABLE, str(tmp_path))
    prepare(workers=4)
    assert not stale.exists() and other.exists()


def test_one_worker_keeps_samples_in_memory_and_several_get_an_empty_directory(monkeypatch) -> None:
    monkeypatch.setenv(DIRECTORY_VARIABLE, "")  # so that the test's end restores the variable as it was
    monkeypatch.delenv(DIRECTORY_VARIABLE)
    prepare(workers=1)
    assert DIRECTORY_VARIABLE not in os.environ
    prepare(workers=3)
    directory = Path(os.environ[DIRECTORY_VARIABLE])
    assert directory.is_dir() and not any(directory.iterdir())
