"""The process supervisor `eo-tiler serve` always runs under, with one worker or many.

A worker can get stuck where nothing inside it can help: a native call that holds the interpreter
lock (a runaway PROJ transformation) stops its event loop, so it answers no request, not even
`/healthz`, and never handles SIGTERM. The supervisor, a separate small process, replaces it:

- Liveness: each worker's event loop writes the time into shared memory every second (a daemon
  thread does it while the worker starts, before the loop runs). A worker whose loop has not
  written for `worker_timeout` seconds is stuck: it gets SIGTERM, a replacement starts at once on
  the same listening socket, and the stuck one gets SIGKILL if it has not exited
  `shutdown_timeout` + `KILL_GRACE` seconds later. The heartbeat comes from the loop itself, the
  one that answers `/healthz`: a stalled loop is caught whether the lock is held or not. (An HTTP
  probe could not pick the worker it reaches through the shared socket.)
- A worker that exits on its own is replaced; one that fails while starting (uvicorn's
  `STARTUP_FAILURE`) stops the supervisor, as it would fail the same way again.
- On SIGTERM or SIGINT the supervisor closes its copy of the listening socket, passes SIGTERM on,
  gives the workers `shutdown_timeout` + `KILL_GRACE` seconds in all and SIGKILLs those still
  running; a second signal kills them at once.
- A worker exits as soon as its server has shut down, without joining its threads: a render
  thread blocked in native code for good would otherwise keep the process alive.
- A worker whose supervisor has gone (killed with SIGKILL) shuts itself down.

Why not uvicorn's own `Multiprocess` supervisor (0.54): it runs only with two workers or more; on
shutdown it waits for its workers without a time limit, so one stuck with the lock held keeps it
running for ever; its health check is answered by a helper thread, which shows that the worker's
interpreter runs but not that its event loop does; and it pings workers one after the other,
blocking up to the timeout on each, so signals wait that long. uvicorn's `Config` (socket,
protocol, logging, loop) and `Server` (serving, graceful shutdown) are used as they are.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import multiprocessing
import multiprocessing.connection
import os
import resource
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType

from uvicorn import Config, Server
from uvicorn.config import STARTUP_FAILURE

from tiler.limits import renders_stuck

log = logging.getLogger("tiler.supervisor")

LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"
HEARTBEAT_INTERVAL = 1.0  # seconds between a worker's heartbeats
STARTUP_ALLOWANCE = 60.0  # seconds a new worker gets for its first heartbeat (imports, opening the catalog)
KILL_GRACE = 5.0  # seconds a worker told to stop gets beyond shutdown_timeout before SIGKILL
TICK = 0.2  # seconds between the supervisor's checks

_spawn = multiprocessing.get_context("spawn")  # a fresh interpreter: no threads or GDAL state forked mid-use


class Worker:
    """One server process and the heartbeat its event loop writes (a `time.monotonic()` value, 0.0 before the first)."""

    def __init__(self, config: Config, sockets: list[socket.socket]) -> None:
        # Raw (lock-free) on purpose: a lock held by a worker killed mid-write would block the supervisor.
        self.heartbeat = _spawn.RawValue(ctypes.c_double, 0.0)
        self.process = _spawn.Process(target=_worker_main, args=(config, sockets, self.heartbeat, os.getpid()))
        self.started = 0.0
        self.kill_at: float | None = None  # set once told to stop

    def start(self) -> None:
        self.process.start()
        self.started = time.monotonic()

    def silence(self, now: float) -> float:
        """Seconds since the last heartbeat, or since the start before the first."""
        return now - (self.heartbeat.value or self.started)

    def stop(self, kill_at: float) -> None:
        if self.kill_at is None and self.process.is_alive():
            os.kill(self.process.pid, signal.SIGTERM)  # type: ignore[arg-type]
        self.kill_at = kill_at if self.kill_at is None else min(self.kill_at, kill_at)

    def kill(self) -> None:
        self.process.kill()
        self.process.join()


class Supervisor:
    """Runs `workers` server processes from `config` until SIGTERM or SIGINT; see the module docstring."""

    def __init__(
        self,
        config: Config,
        workers: int,
        worker_timeout: float,
        shutdown_timeout: float,
        worker_gone: Callable[[int], None] = lambda pid: None,
    ) -> None:
        self.config = config
        self.worker_gone = worker_gone  # called with the pid of every worker that has ended, however
        self.count = workers
        self.worker_timeout = worker_timeout
        self.shutdown_timeout = shutdown_timeout
        self.workers: list[Worker] = []
        self.retiring: list[Worker] = []  # stuck workers told to stop, killed at their deadline
        self._signals: list[int] = []

    def run(self) -> int:
        """Serve until a signal; the exit status: 0, or `STARTUP_FAILURE` when workers cannot start."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        raise_open_files_limit()
        sockets = [self.config.bind_socket()]
        log.info("supervisor [%d]: %d worker(s), replaced after %g s without a heartbeat",
                 os.getpid(), self.count, self.worker_timeout)  # fmt: skip
        self.workers = [self._start(sockets) for _ in range(self.count)]
        status = 0
        while not self._signals and not status:
            time.sleep(TICK)
            status = self._check(sockets)
        for sock in sockets:
            sock.close()  # with the workers' copies closed too, new connections are refused, not queued
        self._stop_all()
        log.info("supervisor [%d]: stopped", os.getpid())
        return status

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        self._signals.append(sig)

    def _start(self, sockets: list[socket.socket]) -> Worker:
        worker = Worker(self.config, sockets)
        worker.start()
        log.info("worker [%d] started", worker.process.pid)
        return worker

    def _check(self, sockets: list[socket.socket]) -> int:
        now = time.monotonic()
        for i, worker in enumerate(self.workers):
            if not worker.process.is_alive():
                self.worker_gone(worker.process.pid)  # type: ignore[arg-type]
                if worker.process.exitcode == STARTUP_FAILURE:
                    log.error("worker [%d] failed to start; stopping", worker.process.pid)
                    return STARTUP_FAILURE
                log.warning("worker [%d] exited (%s); starting another", worker.process.pid, worker.process.exitcode)
                self.workers[i] = self._start(sockets)
                continue
            allowed = self.worker_timeout if worker.heartbeat.value else max(self.worker_timeout, STARTUP_ALLOWANCE)
            silence = worker.silence(now)
            if silence > allowed:
                log.error("worker [%d] stuck: no heartbeat for %.1f s (a native call holding the interpreter lock?); "
                          "replacing it", worker.process.pid, silence)  # fmt: skip
                worker.stop(kill_at=now + self.shutdown_timeout + KILL_GRACE)
                self.retiring.append(worker)
                self.workers[i] = self._start(sockets)
        for worker in list(self.retiring):
            if worker.process.is_alive() and worker.kill_at is not None and now >= worker.kill_at:
                log.error("worker [%d] did not stop on SIGTERM; killing it", worker.process.pid)
                worker.kill()
            if not worker.process.is_alive():
                self.worker_gone(worker.process.pid)  # type: ignore[arg-type]
                self.retiring.remove(worker)
        return 0

    def _stop_all(self) -> None:
        signals_seen = len(self._signals)
        everyone = self.workers + self.retiring
        deadline = time.monotonic() + self.shutdown_timeout + KILL_GRACE
        for worker in everyone:
            worker.stop(kill_at=deadline)
        while True:
            running = [w for w in everyone if w.process.is_alive()]
            now = time.monotonic()
            late = [w for w in running if now >= (w.kill_at or deadline) or len(self._signals) > signals_seen]
            for worker in late:
                log.error("worker [%d] still running; killing it", worker.process.pid)
                worker.kill()
            running = [w for w in running if w not in late]
            if not running:
                break
            multiprocessing.connection.wait([w.process.sentinel for w in running], timeout=TICK)
        for worker in everyone:
            worker.process.join()
            self.worker_gone(worker.process.pid)  # type: ignore[arg-type]


def raise_open_files_limit() -> None:
    """Soft limit of open files up to the hard one: every connection holds a descriptor, and a
    default soft limit of 1024 would make a burst of idle clients refuse everyone else."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    log.info("open files limit: %s", "unlimited" if hard == resource.RLIM_INFINITY else hard)


def _worker_main(config: Config, sockets: list[socket.socket], heartbeat: ctypes.c_double, supervisor: int) -> None:
    """A worker process: uvicorn's server on the supervisor's socket, beating while its loop runs."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    config.configure_logging()
    server = Server(config)
    looping = threading.Event()

    def beat_until_looping() -> None:
        while not looping.is_set():
            heartbeat.value = time.monotonic()
            looping.wait(HEARTBEAT_INTERVAL)

    async def beat() -> None:
        silent = False
        while True:
            if not renders_stuck():
                heartbeat.value = time.monotonic()
            elif not silent:
                # Every render thread is stuck in native code without the interpreter lock: the loop
                # still runs, but nothing that renders can be served. Falling silent gets us replaced.
                log.error("worker [%d]: every render thread is stuck past its deadline", os.getpid())
                silent = True
            looping.set()
            if os.getppid() != supervisor:
                server.should_exit = True  # orphaned: nobody would replace or stop this worker
            await asyncio.sleep(HEARTBEAT_INTERVAL)

    async def serve() -> None:
        beating = asyncio.create_task(beat())
        try:
            await server.serve(sockets)
        finally:
            beating.cancel()

    threading.Thread(target=beat_until_looping, name="startup-heartbeat", daemon=True).start()
    # uvicorn re-raises a SIGTERM it handled once it has shut down, ending the process there; the
    # other ways out come here.
    try:
        loop = (config.get_loop_factory() or asyncio.new_event_loop)()
        asyncio.set_event_loop(loop)
        loop.run_until_complete(serve())
        status = 0
    except KeyboardInterrupt:
        status = 0
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        log.exception("worker [%d] failed", os.getpid())
        status = 1 if server.started else STARTUP_FAILURE
    # Not loop.close() nor a normal exit: both wait for threads, and a stuck render's never returns.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
