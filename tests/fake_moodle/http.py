"""The fake site behind a real HTTP server on loopback, for tests that run `accel` as a subprocess."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

from tests.fake_moodle.core import FakeMoodle


@contextlib.contextmanager
def serve_over_http(site: FakeMoodle) -> Iterator[str]:
    """Serve ``site`` on http://127.0.0.1:<free port> (plain http is allowed on loopback); yields the URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if self.path != "/webservice/rest/server.php":
                self.send_error(404)
                return
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length).decode("utf-8")
            try:
                status, _headers, text = site.answer_form(body)  # the fake answers one at a time itself
            except requests.exceptions.RequestException:
                self.close_connection = True  # an injected dropped connection
                return
            data = text.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    previous = site.url
    site.url = url
    try:
        yield url
    finally:
        server.shutdown()
        server.server_close()
        site.url = previous
