"""Stuck workers, in real `eo-tiler serve` processes: a render blocked in native code, with the interpreter
lock released (libc `sleep` through `ctypes.CDLL`) or held (through `ctypes.PyDLL`), and what the
supervisor does about it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from tests.helpers import REPO, WEB_MERCATOR, free_port, refused, wait_for
from tiler.supervisor import KILL_GRACE, STARTUP_FAILURE

pytestmark = pytest.mark.slow

SHUTDOWN_TIMEOUT = 2.0
MARGIN = 15.0  # beyond the supervisor's own limit: process start-up and a loaded 2-core machine

# `eo-tiler serve` with one band read that blocks for an hour in libc, in whichever worker claims the
# marker file the test creates. Workers are spawned and re-run this script as `__mp_main__`: the patch
# applies in them, `main` runs only in the supervisor.
BLOCKING_SERVER = """
import ctypes, os, signal, sys
from pathlib import Path
import tiler.pipeline.run
from tiler.cli import main

gate, real_read = Path(sys.argv[1]), tiler.pipeline.run.read_part
# PyDLL keeps the interpreter lock through the call (as a runaway PROJ call does); CDLL releases it.
libc = ctypes.PyDLL(None) if os.environ["BLOCK_HOLDING_GIL"] == "1" else ctypes.CDLL(None)

def blocking_read(*args, **kwargs):
    try:
        (gate / "block").unlink()  # one blocking render per marker
    except FileNotFoundError:
        return real_read(*args, **kwargs)
    # A native call that does not return on a signal: sleep() would, were SIGTERM delivered to this thread.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    (gate / "pid.tmp").write_text(str(os.getpid()))
    (gate / "pid.tmp").rename(gate / "blocked")
    libc.sleep(3600)
    return real_read(*args, **kwargs)

tiler.pipeline.run.read_part = blocking_read
if os.environ.get("FAIL_AT_START") == "1":
    import tiler.app
    def failing_factory():
        raise RuntimeError("no app today")
    tiler.app.create_app_from_env = failing_factory
if __name__ == "__main__":
    main(sys.argv[2:])
"""


class BlockingServer:
    def __init__(self, tmp_path: Path, root: Path, workers: int, holding_gil: bool, **env: str) -> None:
        self.gate = tmp_path / "gate"
        self.gate.mkdir()
        script = tmp_path / "blocking_server.py"
        script.write_text(BLOCKING_SERVER)
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.log = tmp_path / "server.log"
        environ = os.environ | {
            "PYTHONPATH": str(REPO),
            "BLOCK_HOLDING_GIL": "1" if holding_gil else "0",
            "EO_TILER_RENDER_TIMEOUT": "300",  # the request stays in flight as long as its render
            "EO_TILER_SHUTDOWN_TIMEOUT": str(SHUTDOWN_TIMEOUT),
            **env,
        }
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, str(script), str(self.gate), "serve", "--data", str(root), "--port", str(port),
                 "--workers", str(workers)],
                stdout=log, stderr=subprocess.STDOUT, env=environ,
            )  # fmt: skip

    def wait_started(self) -> None:
        wait_for(lambda: self.process.poll() is not None or not refused(self.base), "the server to start", 90)
        assert self.process.poll() is None, self.log.read_text()

    def workers(self) -> set[int]:
        """The supervisor's worker processes (its other child is multiprocessing's resource tracker)."""
        pid = self.process.pid
        children = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        return {c for c in children if b"spawn_main" in _cmdline(c)}

    def block_a_render(self) -> tuple[int, threading.Thread]:
        """Start a tile request whose render blocks; the blocked worker's pid, and the request's thread."""
        product = httpx.get(self.base + "/products", timeout=30).json()["products"][0]
        west, south, east, north = product["bounds"]
        t = WEB_MERCATOR.tile((west + east) / 2, (south + north) / 2, 14)
        (self.gate / "block").touch()
        url = f"{self.base}/tiles/{t.z}/{t.x}/{t.y}.png"

        def request() -> None:
            try:
                httpx.get(url, params={"product": product["id"]}, timeout=120)
            except httpx.TransportError:
                pass  # its worker is killed or shut down under it: that is the point

        in_flight = threading.Thread(target=request, daemon=True)
        in_flight.start()
        wait_for((self.gate / "blocked").exists, "the render to block")
        self.tile = (url, product["id"])
        return int((self.gate / "blocked").read_text()), in_flight

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:  # exited since it was listed
        return b""


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.mark.parametrize("holding_gil", [False, True], ids=["gil-released", "gil-held"])
def test_sigterm_stops_the_server_within_the_shutdown_timeout_though_a_render_never_returns(
    demo_archive, tmp_path: Path, holding_gil: bool
) -> None:
    root, _ = demo_archive
    # Health checks out of the way: the stuck worker is still there when SIGTERM comes.
    server = BlockingServer(tmp_path, root, 1, holding_gil, EO_TILER_WORKER_TIMEOUT="600")
    try:
        server.wait_started()
        stuck, in_flight = server.block_a_render()
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=SHUTDOWN_TIMEOUT + KILL_GRACE + MARGIN)
        except subprocess.TimeoutExpired:
            pytest.fail("the server did not stop on SIGTERM:\n" + server.log.read_text()[-3000:])
        in_flight.join(timeout=60)
    finally:
        server.stop()
    log = server.log.read_text()
    assert server.process.returncode == 0, log[-3000:]
    assert not alive(stuck)
    assert "Traceback" not in log.split("Shutting down")[0]  # nothing failed before the shutdown
    if holding_gil:  # SIGTERM cannot be handled while the lock is held: SIGKILL at the deadline
        assert f"worker [{stuck}] still running; killing it" in log
    else:  # the worker shut down by itself, abandoning its render thread
        assert "killing it" not in log and "Finished server process" in log


@pytest.mark.parametrize("workers", [1, 2])
def test_a_worker_stuck_holding_the_gil_is_replaced_and_others_keep_answering(
    demo_archive, tmp_path: Path, workers: int
) -> None:
    root, _ = demo_archive
    metrics = tmp_path / "metrics"  # prometheus_client's files of the workers' samples
    server = BlockingServer(
        tmp_path, root, workers, True, EO_TILER_WORKER_TIMEOUT="3", PROMETHEUS_MULTIPROC_DIR=str(metrics)
    )
    try:
        server.wait_started()
        wait_for(lambda: len(server.workers()) == workers, "the workers to start")
        stuck, in_flight = server.block_a_render()
        assert list(metrics.glob(f"gauge_live*_{stuck}.db"))
        # Until the stuck worker is gone: with two workers the other answers throughout; with one, the
        # connection waits in the socket's queue for the replacement. Nothing reaches the stuck one.
        answered_while_stuck = 0
        while alive(stuck):
            response = httpx.get(server.base + "/healthz", timeout=60)
            assert response.status_code == 200
            answered_while_stuck += alive(stuck)
        if workers > 1:
            assert answered_while_stuck > 0
        wait_for(lambda: len(server.workers()) == workers, "the replacement")
        assert stuck not in server.workers()
        # Its gauges no longer counted in /metrics, once the supervisor has seen it end.
        wait_for(lambda: not list(metrics.glob(f"gauge_live*_{stuck}.db")), "the stuck worker's gauges to go")
        url, product = server.tile
        tile = httpx.get(url, params={"product": product}, timeout=60)  # the marker is used up: a real render
        assert tile.status_code == 200 and tile.headers["content-type"] == "image/png"
        in_flight.join(timeout=60)
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(timeout=SHUTDOWN_TIMEOUT + KILL_GRACE + MARGIN)
    finally:
        server.stop()
    log = server.log.read_text()
    assert server.process.returncode == 0, log[-3000:]
    assert f"worker [{stuck}] stuck: no heartbeat" in log
    assert f"worker [{stuck}] did not stop on SIGTERM; killing it" in log


def test_workers_stop_when_their_supervisor_is_killed(demo_archive, tmp_path: Path) -> None:
    root, _ = demo_archive
    server = BlockingServer(tmp_path, root, 2, False)
    try:
        server.wait_started()
        wait_for(lambda: len(server.workers()) == 2, "the workers to start")
        workers = server.workers()
        server.process.send_signal(signal.SIGKILL)
        server.process.wait()
        wait_for(lambda: not any(alive(pid) for pid in workers), "the orphaned workers to stop")
        assert refused(server.base)
    finally:
        server.stop()


def test_a_worker_that_cannot_start_stops_the_supervisor(demo_archive, tmp_path: Path) -> None:
    root, _ = demo_archive
    server = BlockingServer(tmp_path, root, 2, False, FAIL_AT_START="1")
    try:
        status = server.process.wait(timeout=120)
    finally:
        server.stop()
    log = server.log.read_text()
    assert status == STARTUP_FAILURE, log[-3000:]
    assert "no app today" in log and "failed to start; stopping" in log


def test_a_worker_whose_every_render_thread_is_stuck_is_replaced(demo_archive, tmp_path: Path) -> None:
    """A render stuck in native code without the interpreter lock: its request gets 503 at the deadline,
    the loop keeps running, but with every render thread stuck the worker stops its heartbeat and the
    supervisor replaces it."""
    root, _ = demo_archive
    server = BlockingServer(
        tmp_path, root, 1, False,
        EO_TILER_WORKER_TIMEOUT="3", EO_TILER_RENDER_TIMEOUT="1", EO_TILER_RENDER_THREADS="1",
    )  # fmt: skip
    try:
        server.wait_started()
        stuck, in_flight = server.block_a_render()
        in_flight.join(timeout=60)  # answered 503 at the render deadline; the thread stays blocked
        assert httpx.get(server.base + "/healthz", timeout=30).status_code == 200  # the loop still runs
        wait_for(lambda: not alive(stuck), "the worker with no render thread left to be replaced", 120)
        wait_for(lambda: len(server.workers()) == 1, "the replacement")
        url, product = server.tile
        tile = httpx.get(url, params={"product": product}, timeout=60)
        assert tile.status_code == 200 and tile.headers["content-type"] == "image/png"
    finally:
        server.stop()
    log = server.log.read_text()
    assert f"worker [{stuck}]: every render thread is stuck past its deadline" in log
    assert f"worker [{stuck}] stuck: no heartbeat" in log
