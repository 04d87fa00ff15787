"""A real HTTP server on loopback that receives webhooks and answers as it is told."""
from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    """Keeps every request (path, headers, body); answers with the scripted replies in
    turn — (status, headers) pairs — then with ``default``."""

    def __init__(self, *, default=(200, {}), tls: tuple[str, str] | None = None):
        self.requests: list[dict] = []
        self.script: list[tuple[int, dict]] = []
        self.default = default
        self.delay = 0.0
        #: A body for which this returns True is answered 503 (a failure for one shipment).
        self.failing = None
        #: Requests being answered now, and the most there were at once.
        self.in_flight = self.most_in_flight = 0
        lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                if len(body) < length:  # the sender went away mid-request (killed): nothing arrived
                    self.close_connection = True
                    return
                with lock:
                    receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                    receiver.in_flight += 1
                    receiver.most_in_flight = max(receiver.most_in_flight, receiver.in_flight)
                try:
                    if receiver.delay:
                        time.sleep(receiver.delay)
                finally:
                    with lock:
                        receiver.in_flight -= 1
                if receiver.failing is not None and receiver.failing(body):
                    status, headers = 503, {}
                else:
                    status, headers = receiver.script.pop(0) if receiver.script else receiver.default
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass  # a sender that gave up (a timeout test) is not an error here

        self.server = Server(("127.0.0.1", 0), Handler)
        scheme = "http"
        if tls:  # (certificate file, key file)
            import ssl

            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}/hooks/waybill"

    def fail(self, times: int, status: int = 500, headers: dict | None = None) -> None:
        self.script += [(status, headers or {})] * times

    def __enter__(self):
        # A short poll: shutdown() waits for the loop to look, half a second by default.
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
