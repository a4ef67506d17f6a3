"""Prometheus metrics across worker processes, by prometheus_client's multiprocess mode.

With `--workers N`, every worker writes its samples to files in PROMETHEUS_MULTIPROC_DIR and
`/metrics`, whichever worker answers it, adds up those of all workers. prometheus_client chooses where
samples live when it is first imported, so the variable is set before the workers start (they are
fresh interpreters); `eo-tiler serve` does it. One process alone keeps its samples in memory.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

DIRECTORY_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def enabled() -> bool:
    return DIRECTORY_VARIABLE in os.environ


def prepare(workers: int) -> None:
    """Before the workers start: an empty directory for their samples (files of an earlier run would be
    added to this one's). One given in PROMETHEUS_MULTIPROC_DIR is emptied; else, with several
    workers, a temporary one is made, and removed at exit."""
    given = os.environ.get(DIRECTORY_VARIABLE)
    if given is not None:
        directory = Path(given)
        directory.mkdir(parents=True, exist_ok=True)
        for samples in directory.glob("*.db"):
            samples.unlink()
    elif workers > 1:
        made = tempfile.mkdtemp(prefix="eo-tiler-metrics-")
        atexit.register(shutil.rmtree, made, ignore_errors=True)
        os.environ[DIRECTORY_VARIABLE] = made


def scrape(registry: CollectorRegistry) -> bytes:
    """The exposition of `registry`, or with several workers that of all of them."""
    if not enabled():
        return generate_latest(registry)
    workers = CollectorRegistry()
    MultiProcessCollector(workers)
    return generate_latest(workers)


def worker_exiting() -> None:
    """Drop this process's live gauges (cache bytes) from the sums; its counters stay counted."""
    if enabled():
        mark_process_dead(os.getpid())
