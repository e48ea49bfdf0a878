"""A small HTTP proxy on 127.0.0.1 that can lose responses, for delivery fault tests.

It forwards one request per connection to an upstream server (``Connection: close`` on
both sides) and, when ``drop_response(request_line)`` says so, reads the upstream's whole
response (the server has done the work) and closes the client's connection without
sending it: the client sees a dropped connection and retries what was already committed.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable

from tests.mlflow_server import free_port

_HEADER_END = b"\r\n\r\n"


class LoopbackProxy:
    def __init__(
        self,
        upstream_port: int,
        port: int | None = None,
        drop_response: Callable[[str], bool] | None = None,
    ):
        self.upstream_port = upstream_port
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.drop_response = drop_response or (lambda request_line: False)
        self.dropped: list[str] = []
        self.forwarded: list[str] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None

    def start(self) -> LoopbackProxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with client:
            request = _read_message(client)
            if request is None:
                return
            request_line = request.split(b"\r\n", 1)[0].decode("latin-1")
            try:
                with socket.create_connection(("127.0.0.1", self.upstream_port), 30) as up:
                    up.sendall(_close_after(request))
                    response = _read_message(up)
            except OSError:
                return  # upstream down: the client sees a dropped connection
            if response is None:
                return
            with self._lock:
                drop = self.drop_response(request_line)
                (self.dropped if drop else self.forwarded).append(request_line)
            if not drop:
                with contextlib.suppress(OSError):
                    client.sendall(_close_after(response))


def _read_message(sock: socket.socket) -> bytes | None:
    """One HTTP message (a request, or a response with a length or chunked body)."""
    data = b""
    while _HEADER_END not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(_HEADER_END)
    headers = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip().lower()
    while not _body_complete(headers, body):
        chunk = sock.recv(65536)
        if not chunk:
            return None
        body += chunk
    return head + _HEADER_END + body


def _body_complete(headers: dict[bytes, bytes], body: bytes) -> bool:
    if headers.get(b"transfer-encoding") == b"chunked":
        return body.endswith(b"0\r\n\r\n")
    return len(body) >= int(headers.get(b"content-length", b"0"))


def _close_after(message: bytes) -> bytes:
    """The same message with ``Connection: close``: one exchange per connection."""
    head, _, body = message.partition(_HEADER_END)
    lines = [line for line in head.split(b"\r\n") if not line.lower().startswith(b"connection:")]
    return b"\r\n".join([*lines, b"Connection: close"]) + _HEADER_END + body
