"""Slow and idle clients against a real `eo-tiler serve` process: half-open connections do not crowd out
real requests, and the server closes connections that never finish their request's headers."""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.helpers import REPO, WEB_MERCATOR, decode, free_port, refused, wait_for

pytestmark = pytest.mark.slow

HALF_OPEN = 5000
PARTIAL_REQUEST = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "  # never ends


@contextmanager
def server(root: Path, tmp_path: Path, **env: str) -> Iterator[tuple[str, subprocess.Popen]]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with (tmp_path / "server.log").open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tiler.cli", "serve", "--data", str(root), "--port", str(port)],
            stdout=log, stderr=subprocess.STDOUT, env=os.environ | {"PYTHONPATH": str(REPO), **env},
        )  # fmt: skip
    try:
        wait_for(lambda: process.poll() is not None or not refused(base), "the server to start", 90)
        assert process.poll() is None, (tmp_path / "server.log").read_text()
        yield base, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def open_files(needed: int) -> Iterator[None]:
    """This process's soft limit of open files raised to `needed` for the block (the server raises its own)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.fail(f"the test needs {needed} open files; the hard limit is {hard} (raise it: ulimit -Hn)")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, needed), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def connect(base: str) -> socket.socket:
    host, port = base.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=60)


def worker_fds(supervisor: int) -> int:
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    return max(len(os.listdir(f"/proc/{child}/fd")) for child in children)


def read_response(sock: socket.socket) -> bytes:
    """One whole response (the app's answers carry Content-Length)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, body = data.split(b"\r\n\r\n", 1)
    length = next(
        int(line.split(b":")[1]) for line in head.lower().split(b"\r\n") if line.startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server closed `sock` (reading gives end-of-file or a reset), waiting up to its timeout."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def test_5000_half_open_connections_do_not_stop_real_requests(demo_archive, tmp_path: Path) -> None:
    root, _ = demo_archive
    sockets: list[socket.socket] = []
    # The default header timeout would start closing them before the last is open on a slow machine.
    with open_files(HALF_OPEN + 1024), server(root, tmp_path, EO_TILER_HEADER_TIMEOUT="600") as (base, process):
        try:
            for _ in range(HALF_OPEN):
                sock = connect(base)
                sock.sendall(PARTIAL_REQUEST)
                sockets.append(sock)
            # The worker has accepted them all: they are open connections, not waiting in the queue.
            wait_for(lambda: worker_fds(process.pid) >= HALF_OPEN, "the server to accept the connections")

            assert httpx.get(base + "/healthz", timeout=30).json()["status"] == "ok"
            product = httpx.get(base + "/products", timeout=30).json()["products"][0]
            west, south, east, north = product["bounds"]
            t = WEB_MERCATOR.tile((west + east) / 2, (south + north) / 2, 14)
            tile = httpx.get(f"{base}/tiles/{t.z}/{t.x}/{t.y}.png", params={"product": product["id"]}, timeout=60)
            assert tile.status_code == 200 and decode(tile.content)[..., 3].max() == 255

            # They were still open all along: the server neither answered nor closed any.
            for sock in sockets:
                sock.setblocking(False)
                with pytest.raises(BlockingIOError):
                    sock.recv(1, socket.MSG_PEEK)
        finally:
            for sock in sockets:
                sock.close()


def test_connections_that_never_finish_their_headers_are_closed(demo_archive, tmp_path: Path) -> None:
    root, _ = demo_archive
    with server(root, tmp_path, EO_TILER_HEADER_TIMEOUT="2", EO_TILER_MAX_HEADER_BYTES="4096") as (base, _):
        silent = connect(base)
        partial = connect(base)
        partial.sendall(PARTIAL_REQUEST)
        # Keep-alive after a complete request, then half of the next one.
        kept = connect(base)
        kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert read_response(kept).startswith(b"HTTP/1.1 200 ")
        kept.sendall(PARTIAL_REQUEST)
        for sock in (silent, partial, kept):
            assert closed_by_server(sock)
            sock.close()

        # A byte every 0.2 s resets no timer: the whole head must arrive within the header timeout.
        trickle = connect(base)
        trickle.settimeout(0.2)
        closed = False
        for byte in PARTIAL_REQUEST:  # about 10 s of bytes
            try:
                trickle.send(bytes([byte]))
                closed = trickle.recv(1) == b""
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                closed = True
            if closed:
                break
        trickle.close()
        assert closed

        # Two pipelined requests are both answered; an unfinished head over EO_TILER_MAX_HEADER_BYTES gets 400.
        pipelined = connect(base)
        pipelined.sendall(
            b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\nGET /layers HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
        )
        answers = b""
        while chunk := pipelined.recv(65536):
            answers += chunk
        assert answers.count(b"HTTP/1.1 200 ") == 2
        pipelined.close()
        big = connect(base)
        big.sendall(b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-Big: " + b"x" * 5000)  # unfinished, over the limit
        assert big.recv(65536).startswith(b"HTTP/1.1 400 ")
        big.close()
        assert httpx.get(base + "/healthz", timeout=30).status_code == 200
