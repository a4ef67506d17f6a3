"""The HTTP/1.1 protocol the server runs: uvicorn's h11 protocol plus the one connection limit uvicorn
lacks, a deadline for each request's line and headers.

uvicorn arms a timer only between requests (`timeout_keep_alive`, after a response), and any byte
received cancels it; nothing is armed when a connection opens. A client that connects and sends
half a request line, or trickles a header a byte at a time, would hold its connection (a file
descriptor and a protocol object) for ever. Here every request's line and headers must be complete
within `header_timeout` seconds of the connection opening, or of the previous response ending;
otherwise the connection is closed. Half-open connections then last at most `header_timeout`,
however many a client opens.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol, RequestResponseCycle

log = logging.getLogger("tiler.connections")


class HeaderTimeoutProtocol(H11Protocol):
    """`H11Protocol` that closes a connection whose next request's headers are not complete in time."""

    def __init__(self, *args: Any, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout
        self._header_timer: asyncio.TimerHandle | None = None
        # The request cycle current when the wait began: a new request means its headers arrived.
        self._waiting_after: RequestResponseCycle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_request()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.cycle is not self._waiting_after:
            self._cancel_header_timer()

    def on_response_complete(self) -> None:
        finished = self.cycle
        super().on_response_complete()  # may already start a pipelined request: then nothing to wait for
        if self.cycle is finished and not self.transport.is_closing():
            self._await_request()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def _await_request(self) -> None:
        self._cancel_header_timer()
        self._waiting_after = self.cycle
        self._header_timer = self.loop.call_later(self.header_timeout, self._headers_too_late)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_late(self) -> None:
        self._header_timer = None
        if self.cycle is self._waiting_after and not self.transport.is_closing():
            # No response: h11 cannot answer a request it has not parsed, and most such clients are not listening.
            log.debug("closing a connection from %s: no complete request in %g s", self.client, self.header_timeout)
            self.transport.close()
