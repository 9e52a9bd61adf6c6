"""The HTTP server: both providers' APIs and the admin API on one loopback port.

Standard library only: a `ThreadingHTTPServer` speaking HTTP/1.1 with `Content-Length` on
every response, so clients keep connections alive. Headers and body leave in one write with
Nagle off, so small responses are not held back waiting for ACKs. `stop()` also closes
idle keep-alive connections, so a stopped server really answers nothing.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from syncer.simulator.app import Outcome, Request, SimulatorApp
from syncer.simulator.faults import Faults
from syncer.simulator.stats import Stats
from syncer.simulator.world import World

_MAX_BODY = 1 << 20


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: SimulatorApp) -> None:
        self.app = app
        self.open_connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up or resets a kept-alive connection is no error to report."""
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)

    def close_open_connections(self) -> None:
        with self.connections_lock:
            connections = list(self.open_connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the other side
                connection.shutdown(socket.SHUT_RDWR)


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "syncer-simulator/1.0"
    disable_nagle_algorithm = True
    wbufsize = 256 * 1024  # buffered: headers and body go out together on flush
    timeout = 120  # seconds an idle keep-alive connection is kept
    server: _Server

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.open_connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.open_connections.discard(self.connection)
        super().finish()

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        request = Request.parse(
            self.command, self.path, self.headers.items(), body=self._read_body()
        )
        self._write(self.server.app.handle(request))

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(min(length, _MAX_BODY)) if length > 0 else b""

    def _write(self, outcome: Outcome) -> None:
        if outcome.drop:
            self.close_connection = True
            with contextlib.suppress(OSError):  # the client is gone already
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(outcome.status)
        for name, value in outcome.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(outcome.body)))
        self.end_headers()
        self.wfile.write(outcome.body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The stdlib's own errors (unparseable request, unknown method) in JSON too."""
        self.close_connection = True
        body = json.dumps({"error": "bad_request", "message": message or explain or ""}).encode()
        self.send_response(code, message)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and code >= 200 and code not in (204, 304):
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the simulator reports through `/_sim/stats`, not a log line per request."""


class SimulatorServer:
    """Serves a `World` over HTTP on `host:port` (port 0 picks a free port) in a thread.

    Use `start()`/`stop()` or `with SimulatorServer(world) as server:`. `faults`, when
    given, replaces the world's faults (a provider left out gets none).
    """

    def __init__(
        self,
        world: World,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: Mapping[str, Faults] | None = None,
    ) -> None:
        self.world = world
        self.host = host
        self.port = port
        self._stats = Stats()
        self.app = SimulatorApp(world, self._stats)
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        if faults is not None:
            world.set_faults(faults)

    def start(self) -> SimulatorServer:
        """Bind and serve in a daemon thread; returns self."""
        if self._httpd is not None:
            raise RuntimeError("the simulator is already running")
        server_class = _Server6 if ":" in self.host else _Server
        self._httpd = server_class((self.host, self.port), self.app)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"syncer-simulator-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every connection; safe to call twice."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        httpd.close_open_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    @property
    def url(self) -> str:
        """The base URL clients use, e.g. `http://127.0.0.1:54321` (after `start()`)."""
        if self._httpd is None:
            raise RuntimeError("the simulator is not running; call start() first")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def stats(self) -> dict[str, Any]:
        """Counters since start or the last reset; see `Stats.snapshot`."""
        return self._stats.snapshot()

    def reset_stats(self) -> None:
        self._stats.reset()

    def set_faults(self, faults: Mapping[str, Faults] | None) -> None:
        """Replace the faults of both providers at run time (same as `world.set_faults`)."""
        self.world.set_faults(faults)

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
