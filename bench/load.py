"""A small HTTP/1.1 load generator: keep-alive connections on asyncio, one CPU core.

It replays a list of request paths at a fixed concurrency, either each path once (a cold list,
a viewport, a page of thumbnails: wall time is what the user waits) or round and round for a
duration (hot tiles). With `distinct`, no two requests for one path are in flight at once: a cold
list that names a tile twice (low zooms have only a few tiles) then measures two renders, never one
render shared by two waiting requests. Every response is read to its end and timed. The process's own CPU time is
reported too, so a run can show the client was not the bottleneck. Responses must carry
Content-Length (uvicorn sends it for whole-body responses, which every route measured here is).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class LoadResult:
    requests: int
    errors: int  # non-2xx/304 statuses and broken connections
    wall_s: float
    latencies_s: tuple[float, ...]  # of successful requests, in completion order
    bytes_received: int
    client_cpu_s: float
    statuses: dict[int, int]

    @property
    def rps(self) -> float:
        return self.requests / self.wall_s if self.wall_s > 0 else 0.0

    def percentile(self, q: float) -> float | None:
        """Nearest-rank percentile of the latencies, in seconds."""
        if not self.latencies_s:
            return None
        ordered = sorted(self.latencies_s)
        rank = max(1, -(-len(ordered) * q // 100))
        return ordered[int(rank) - 1]


async def _request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, path: str) -> tuple[int, int]:
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: */*\r\n\r\n".encode("latin-1"))
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.lower() == "content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status, len(head) + length


class _Distinct:
    """The paths in order, each handed out only while no other request for it is in flight."""

    def __init__(self, paths: Sequence[str]) -> None:
        self._waiting = list(paths)
        self._in_flight: set[str] = set()
        self._changed = asyncio.Condition()

    async def take(self) -> str | None:
        async with self._changed:
            while True:
                path = next((p for p in self._waiting if p not in self._in_flight), None)
                if path is not None:
                    self._waiting.remove(path)
                    self._in_flight.add(path)
                    return path
                if not self._waiting:
                    return None
                await self._changed.wait()

    async def done(self, path: str) -> None:
        async with self._changed:
            self._in_flight.discard(path)
            self._changed.notify_all()


async def _run(
    host: str, port: int, paths: Sequence[str], concurrency: int, duration_s: float | None, distinct: bool
) -> LoadResult:
    if distinct and duration_s is not None:
        raise ValueError("distinct applies to a list requested once, not to a cycle")
    gate = _Distinct(paths) if distinct else None
    source = iter(paths) if duration_s is None else itertools.cycle(paths)  # shared by the workers
    deadline = None
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    counts = {"requests": 0, "errors": 0, "bytes": 0}

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while (path := await gate.take() if gate else next(source, None)) is not None:
                if deadline is not None and time.perf_counter() >= deadline:
                    return
                start = time.perf_counter()
                try:
                    status, size = await _request(reader, writer, host, path)
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    counts["errors"] += 1
                    counts["requests"] += 1
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
                    continue
                finally:
                    if gate:
                        await gate.done(path)
                counts["requests"] += 1
                statuses[status] = statuses.get(status, 0) + 1
                if 200 <= status < 300 or status == 304:
                    latencies.append(time.perf_counter() - start)
                    counts["bytes"] += size
                else:
                    counts["errors"] += 1
        finally:
            writer.close()

    cpu0 = time.process_time()
    t0 = time.perf_counter()
    if duration_s is not None:
        deadline = t0 + duration_s
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - t0
    return LoadResult(
        requests=counts["requests"],
        errors=counts["errors"],
        wall_s=wall,
        latencies_s=tuple(latencies),
        bytes_received=counts["bytes"],
        client_cpu_s=time.process_time() - cpu0,
        statuses=statuses,
    )


def combine(results: Sequence[LoadResult]) -> LoadResult:
    """Parts of one measurement taken at different times, as one: counts and times add up."""
    statuses: dict[int, int] = {}
    for r in results:
        for status, count in r.statuses.items():
            statuses[status] = statuses.get(status, 0) + count
    return LoadResult(
        requests=sum(r.requests for r in results),
        errors=sum(r.errors for r in results),
        wall_s=sum(r.wall_s for r in results),
        latencies_s=tuple(lat for r in results for lat in r.latencies_s),
        bytes_received=sum(r.bytes_received for r in results),
        client_cpu_s=sum(r.client_cpu_s for r in results),
        statuses=statuses,
    )


def replay(
    host: str,
    port: int,
    paths: Sequence[str],
    *,
    concurrency: int,
    duration_s: float | None = None,
    distinct: bool = False,
) -> LoadResult:
    """Request `paths` over `concurrency` connections: each once, or cycling for `duration_s` seconds.
    With `distinct`, never two requests for one path at the same time."""
    if not paths:
        raise ValueError("no paths to request")
    return asyncio.run(_run(host, port, paths, concurrency, duration_s, distinct))
