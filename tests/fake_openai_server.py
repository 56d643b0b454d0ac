"""An OpenAI-compatible server on 127.0.0.1 for tests of the remote engine (issue 21).

It lists `models` at GET /v1/models and streams `pieces` as server-sent events at POST
/v1/chat/completions, as vLLM, llama.cpp's server and Ollama do, and can be told to fail in
each way a real one does: `status` (401, 403, 404, 429, 500...) answers with that status and
an OpenAI-style error body; `cut_after` closes the connection after that many pieces;
`first_delay_s` waits before the first piece (headers already sent); `header_delay_s` before
anything at all. Every request is kept (`requests`: path, headers, JSON body).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Script:
    models: list[str] = field(default_factory=lambda: ["served-model"])
    pieces: list[str] = field(default_factory=lambda: ["Hello", " from", " the", " server."])
    status: int = 200
    cut_after: int | None = None
    first_delay_s: float = 0.0
    header_delay_s: float = 0.0
    piece_delay_s: float = 0.0
    usage: bool = True
    api_key: str = ""  # when set, other keys get 401
    transcript: str = " Switch to dark mode."  # what /v1/audio/transcriptions answers


class FakeOpenAIServer:
    def __init__(self) -> None:
        self.script = Script()
        self.requests: list[dict[str, Any]] = []
        self.stopped_early = threading.Event()  # the client went away mid-answer
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _record(self, body: Any) -> None:
                server.requests.append(
                    {
                        "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": body,
                    }
                )

            def _json(self, status: int, payload: Any) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _refused(self) -> bool:
                script = server.script
                key = self.headers.get("Authorization", "")
                if script.api_key and key != f"Bearer {script.api_key}":
                    self._json(401, {"error": {"message": "Invalid API key", "code": 401}})
                    return True
                if script.status != 200:
                    message = {404: "The model does not exist"}.get(script.status, "failure")
                    self._json(script.status, {"error": {"message": message}})
                    return True
                return False

            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                self._record(None)
                if self._refused():
                    return
                if self.path.rstrip("/") != "/v1/models":
                    self._json(404, {"error": {"message": "no such path"}})
                    return
                models = [{"id": m, "object": "model", "owned_by": "test"}
                          for m in server.script.models]  # fmt: skip
                self._json(200, {"object": "list", "data": models})

            def do_POST(self) -> None:  # noqa: N802 (http.server API)
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length)
                if self.path.rstrip("/").endswith("/audio/transcriptions"):
                    self._transcribe(raw)
                    return
                body = json.loads(raw or b"{}")
                self._record(body)
                script = server.script
                time.sleep(script.header_delay_s)
                if self._refused():
                    return
                if body.get("model") not in script.models:
                    self._json(404, {"error": {"message": f"model {body.get('model')} not found"}})
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.flush()
                time.sleep(script.first_delay_s)
                try:
                    for i, piece in enumerate(script.pieces):
                        if script.cut_after is not None and i == script.cut_after:
                            self.wfile.flush()
                            self.connection.shutdown(2)  # the server goes away mid-answer
                            return
                        self._event(self._chunk(body, {"content": piece}))
                        time.sleep(script.piece_delay_s)
                    self._event(self._chunk(body, {}, finish="stop"))
                    if script.usage:
                        usage = {"prompt_tokens": 7, "completion_tokens": len(script.pieces),
                                 "total_tokens": 7 + len(script.pieces)}  # fmt: skip
                        self._event({**self._chunk(body, {}), "choices": [], "usage": usage})
                    self.wfile.write(b"data: [DONE]\n\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    server.stopped_early.set()

            def _transcribe(self, raw: bytes) -> None:
                """/v1/audio/transcriptions: the multipart form's fields are kept (the file
                as its bytes), and `transcript` is the answer."""
                fields = {}
                boundary = self.headers.get_content_type() == "multipart/form-data" and (
                    self.headers.get_param("boundary")
                )
                for part in raw.split(b"--" + str(boundary).encode())[1:-1]:
                    head, _, value = part.strip(b"\r\n").partition(b"\r\n\r\n")
                    name = head.split(b'name="', 1)[1].split(b'"', 1)[0].decode()
                    fields[name] = value if b"filename=" in head else value.decode()
                self._record(fields)
                time.sleep(server.script.first_delay_s)
                if self._refused():
                    return
                if fields.get("model") not in server.script.models:
                    self._json(
                        404, {"error": {"message": f"model {fields.get('model')} not found"}}
                    )
                    return
                self._json(200, {"text": server.script.transcript})

            def _chunk(self, body: Any, delta: dict, finish: str | None = None) -> dict:
                return {
                    "id": "chatcmpl-test",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": body.get("model"),
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                }

            def _event(self, payload: dict) -> None:
                self.wfile.write(b"data: " + json.dumps(payload).encode() + b"\n\n")
                self.wfile.flush()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> FakeOpenAIServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def chat_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"].endswith("/chat/completions")]
