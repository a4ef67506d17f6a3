"""The load test's short form (about 20 s) against a real server process on loopback."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.helpers import REPO

pytestmark = pytest.mark.slow


def test_short_load_run_has_no_unexpected_errors_and_bounded_memory(demo_archive) -> None:
    root, _ = demo_archive
    cache_bytes = 1024 * 1024  # small enough that the run must evict
    result = subprocess.run(
        [sys.executable, "bench/load_test.py", "--duration", "20", "--concurrency", "32",
         "--cache-bytes", str(cache_bytes), "--data", str(root)],
        capture_output=True, text=True, cwd=REPO, timeout=300,
    )  # fmt: skip
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert result.returncode == 0, (summary, result.stderr[-2000:])
    assert summary["unexpected"] == 0 and summary["requests"] > 100
    assert set(summary["latency_ms"]) == {"tile", "expression", "preview", "search", "tilejson", "wms", "mosaic", "bad"}
    assert summary["rss_peak_mib"] <= summary["rss_bound_mib"]
    assert summary["cache_bytes_end"] <= cache_bytes
    assert summary["access_log_lines"] >= summary["requests"]  # every request logged as a JSON line
