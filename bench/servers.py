"""Starting the two servers on loopback, pinned to their CPU cores, and watching their memory."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TITILER_VENV = REPO / "bench" / ".titiler"
GDAL_CACHEMAX_MB = 256  # eo-tiler's default (Settings.gdal), given to TiTiler too

# TiTiler's "Recommended Configuration for dynamic tiling" (docs/advanced/performance_tuning.md),
# with the block cache at eo-tiler's size. The HTTP settings do nothing for local files.
TITILER_GDAL_ENV = {
    "GDAL_CACHEMAX": str(GDAL_CACHEMAX_MB),
    "CPL_VSIL_CURL_CACHE_SIZE": "200000000",
    "GDAL_BAND_BLOCK_CACHE": "HASHSET",
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
    "GDAL_HTTP_MULTIPLEX": "YES",
    "GDAL_HTTP_VERSION": "2",
    "VSI_CACHE": "TRUE",
    "VSI_CACHE_SIZE": "5000000",
    "PYTHONWARNINGS": "ignore",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_titiler(progress=print) -> str:
    """Install the current TiTiler release into its own venv (once); return its version."""
    python = TITILER_VENV / "bin" / "python"
    if not python.exists():
        progress(f"bench: installing titiler.application into {TITILER_VENV}")
        subprocess.run([sys.executable, "-m", "venv", str(TITILER_VENV)], check=True)
        subprocess.run(
            [str(TITILER_VENV / "bin" / "pip"), "install", "--quiet", "titiler.application", "uvicorn"], check=True
        )
    out = subprocess.run(
        [str(python), "-c", "import titiler.application as t; print(t.__version__)"],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of a process and all its descendants (uvicorn workers are children)."""
    total = 0
    pending = [pid]
    while pending:
        p = pending.pop()
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            with open(f"/proc/{p}/task/{p}/children") as f:
                pending.extend(int(c) for c in f.read().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


class MemoryWatch:
    """Samples a process tree's RSS in a thread; `peak` is the largest sample since `reset`."""

    def __init__(self, pid: int, interval_s: float = 0.05) -> None:
        self.pid = pid
        self.peak = 0
        self._interval = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss_bytes(self.pid))
            self._stop.wait(self._interval)

    def reset(self) -> None:
        self.peak = tree_rss_bytes(self.pid)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen
    memory: MemoryWatch

    @property
    def host(self) -> str:
        return "127.0.0.1"


@contextmanager
def serve(
    name: str,
    argv: Sequence[str],
    env: Mapping[str, str],
    port: int,
    cpus: set[int] | None,
    health_path: str,
    log_path: Path,
    timeout_s: float = 120,
) -> Iterator[Server]:
    """Run a server process (pinned to `cpus`), wait until `health_path` answers, stop it afterwards."""
    log = open(log_path, "ab")  # noqa: SIM115 (closed when the server stops, below)
    process = subprocess.Popen(
        list(argv),
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}; see {log_path}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{health_path}", timeout=5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{name} did not answer on port {port} within {timeout_s} s; see {log_path}"
                    ) from None
                time.sleep(0.2)
        memory = MemoryWatch(process.pid)
        try:
            yield Server(name, port, process, memory)
        finally:
            memory.close()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.close()


def eo_tiler_command(data_root: Path, port: int, cache_bytes: int, workers: int) -> tuple[list[str], dict[str, str]]:
    venv_bin = Path(sys.executable).parent
    argv = [
        str(venv_bin / "uvicorn"),
        "tiler.app:create_app_from_env",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    env = {"EO_TILER_DATA": str(data_root), "EO_TILER_CACHE_BYTES": str(cache_bytes)}
    return argv, env


def titiler_command(port: int, workers: int) -> tuple[list[str], dict[str, str]]:
    argv = [
        str(TITILER_VENV / "bin" / "uvicorn"),
        "titiler.application.main:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    return argv, dict(TITILER_GDAL_ENV)
