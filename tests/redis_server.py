"""A real redis-server on loopback for the tests, with its own configuration file (Debian's
redis-server; `make test` installs it)."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path

import redis

from tests.helpers import free_port

# As the README recommends for the image cache: bounded, least recently used images evicted first.
CONFIG = """\
bind 127.0.0.1
port {port}
dir {directory}
save ""
appendonly no
maxmemory 64mb
maxmemory-policy allkeys-lru
"""


class RedisServer:
    def __init__(self, directory: Path) -> None:
        executable = shutil.which("redis-server")
        assert executable, "redis-server is missing: `make test` installs Debian's redis-server"
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        config = directory / "redis.conf"
        config.write_text(CONFIG.format(port=self.port, directory=directory))
        self._log = (directory / "redis.log").open("w")
        self.process = subprocess.Popen([executable, str(config)], stdout=self._log, stderr=subprocess.STDOUT)
        self.client = redis.Redis.from_url(self.url, socket_timeout=5)
        deadline = time.monotonic() + 30
        while True:
            try:
                self.client.ping()
                return
            except redis.ConnectionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        f"redis-server did not start: {(directory / 'redis.log').read_text()}"
                    ) from None
                time.sleep(0.02)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)

    def pause(self) -> None:
        """A hung server: connections are accepted, nothing is answered."""
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.resume()
            self.process.terminate()
            self.process.wait(timeout=10)
        self._log.close()
