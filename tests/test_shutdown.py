"""Graceful shutdown of a real `eo-tiler serve` process: on SIGTERM, the request in flight finishes,
new connections are refused, and the process exits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from tests.helpers import REPO, WEB_MERCATOR, decode, free_port, refused, wait_for

pytestmark = pytest.mark.slow

# `eo-tiler serve` with band reads that wait at a gate the test opens: the request is held in flight.
# Worker processes are spawned and re-run this script as `__mp_main__`: the patch applies in them,
# `main` only in the supervisor.
GATED_SERVER = """
import sys, time
from pathlib import Path
import tiler.pipeline.run
from tiler.cli import main

gate, real_read = Path(sys.argv[1]), tiler.pipeline.run.read_part

def gated_read(*args, **kwargs):
    (gate / "started").touch()
    while not (gate / "release").exists():
        time.sleep(0.05)
    return real_read(*args, **kwargs)

tiler.pipeline.run.read_part = gated_read
if __name__ == "__main__":
    main(sys.argv[2:])
"""


def test_sigterm_lets_the_request_in_flight_finish_and_refuses_new_ones(demo_archive, tmp_path: Path) -> None:
    root, _ = demo_archive
    gate = tmp_path / "gate"
    gate.mkdir()
    script = tmp_path / "gated_server.py"
    script.write_text(GATED_SERVER)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = os.environ | {"EO_TILER_RENDER_TIMEOUT": "300", "PYTHONPATH": str(REPO)}
    server = subprocess.Popen(
        [sys.executable, str(script), str(gate), "serve", "--data", str(root), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    try:
        wait_for(lambda: server.poll() is not None or not refused(base), "the server to start", 90)
        product = httpx.get(base + "/products").json()["products"][0]
        west, south, east, north = product["bounds"]
        t = WEB_MERCATOR.tile((west + east) / 2, (south + north) / 2, 14)
        url = f"{base}/tiles/{t.z}/{t.x}/{t.y}.png"
        answers: list[httpx.Response] = []
        in_flight = threading.Thread(
            target=lambda: answers.append(httpx.get(url, params={"product": product["id"]}, timeout=120))
        )
        in_flight.start()
        wait_for((gate / "started").exists, "the render to start")

        server.send_signal(signal.SIGTERM)
        wait_for(lambda: refused(base), "new connections to be refused")
        assert server.poll() is None  # still finishing the request in flight

        (gate / "release").touch()
        in_flight.join(timeout=120)
        assert answers and answers[0].status_code == 200
        assert decode(answers[0].content)[..., 3].max() == 255
        output, _ = server.communicate(timeout=60)
    finally:
        (gate / "release").touch()
        if server.poll() is None:
            server.kill()
            server.communicate()
    # uvicorn re-raises the handled SIGTERM once shut down: -15 (or 0) is a clean exit, not a crash.
    assert server.returncode in (0, -signal.SIGTERM)
    assert "Waiting for connections to close" in output or "Finished server process" in output
    assert "Traceback" not in output
