"""``gankit serve``: a local web explorer of a trained generator, on the standard library's HTTP server.

It binds 127.0.0.1 only (the machine itself; nothing on the network can reach it) and serves:

- ``GET /``: the explorer page (plain HTML and JavaScript in one file, no external assets);
- ``GET /api/info``: JSON about the model (classes, latent width, direction sets);
- ``GET /api/generate?seed=S&truncation=T&label=Y&seed2=S2&t=F&directions=sefa|random&move=a,b,...&scale=K``:
  a PNG (:class:`gankit.explore.explorer.Explorer`); the same query gives the same bytes.

A bad query gets HTTP 400 with a one-line text message naming the parameter; an unknown path 404; any
other failure 500 with its message; the server keeps serving after each.
"""
from __future__ import annotations

import json
import sys
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any, Optional
from urllib.parse import parse_qs, urlsplit

from gankit.errors import GankitError
from gankit.explore.explorer import Explorer

HOST = "127.0.0.1"


class ExplorerServer(ThreadingHTTPServer):
    daemon_threads = True  # a slow client never keeps the process alive

    def __init__(self, explorer: Explorer, port: int, quiet: bool = False) -> None:
        self.explorer = explorer
        self.quiet = quiet
        self.page = resources.files("gankit.explore").joinpath("static/explorer.html").read_bytes()
        super().__init__((HOST, port), ExplorerHandler)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server_address[1]}/"


class ExplorerHandler(BaseHTTPRequestHandler):
    server: ExplorerServer
    server_version = "gankit-explorer"

    def do_GET(self) -> None:  # noqa: N802 (the http.server name)
        url = urlsplit(self.path)
        try:
            if url.path in ("/", "/index.html"):
                self._send(200, "text/html; charset=utf-8", self.server.page)
            elif url.path == "/api/info":
                self._send(200, "application/json", json.dumps(self.server.explorer.info()).encode())
            elif url.path == "/api/generate":
                self._send(200, "image/png", self.server.explorer.png(_query(url.query)))
            else:
                self._text(404, f"no such page: {url.path} (try /, /api/info or /api/generate?seed=0)")
        except GankitError as exc:
            self._text(400, str(exc))
        except Exception as exc:  # a bug, not the query: say so, log it, keep serving
            traceback.print_exc(file=sys.stderr)
            self._text(500, f"internal error: {type(exc).__name__}: {exc}")

    def do_POST(self) -> None:  # noqa: N802
        self._text(405, "the explorer only answers GET requests")

    do_PUT = do_DELETE = do_PATCH = do_POST

    def _text(self, status: int, message: str) -> None:
        self._send(status, "text/plain; charset=utf-8", (" ".join(message.split()) + "\n").encode())

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the http.server signature)
        if not self.server.quiet:
            sys.stderr.write(f"gankit serve: {self.address_string()} {format % args}\n")


def _query(text: str) -> dict:
    """name -> [values]; a field without '=' is an error (it would otherwise vanish), an empty one is skipped."""
    bare = [part for part in text.split("&") if part and "=" not in part]
    if bare:
        raise GankitError(f"malformed query string {text!r}: {bare[0]!r} has no '=' (write name=value)")
    try:
        return parse_qs(text, keep_blank_values=True, errors="strict")
    except UnicodeDecodeError as exc:
        raise GankitError(f"malformed query string {text!r}: {exc}") from None


def make_server(model: Any, port: int = 8000, n_directions: int = 8, quiet: bool = False) -> ExplorerServer:
    """An explorer server for a LoadedGAN on 127.0.0.1:``port`` (0: any free port; see ``.url``), not yet
    serving: call ``serve_forever()`` (or ``handle_request()``), and ``server_close()`` when done."""
    explorer = Explorer(model, n_directions)
    if not 0 <= port <= 65535:
        raise GankitError(f"--port {port} is not a TCP port: use 1..65535 (or 0 for any free port)")
    try:
        return ExplorerServer(explorer, port, quiet)
    except OSError as exc:
        raise GankitError(f"cannot listen on {HOST}:{port} ({exc.strerror or exc}); pick another --port") from None


def serve(model: Any, port: int = 8000, n_directions: int = 8, quiet: bool = False,
          ready: Optional[Any] = None) -> None:
    """Serve the explorer until interrupted (Ctrl-C); ``ready(url)`` is called once it listens."""
    server = make_server(model, port, n_directions, quiet)
    (ready or (lambda url: None))(server.url)
    try:
        server.serve_forever()
    finally:
        server.server_close()
