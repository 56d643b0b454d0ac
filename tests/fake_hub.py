"""A local fake of the Hugging Face hub's endpoints that huggingface_hub calls for downloads,
on 127.0.0.1 (point `HF_ENDPOINT` at `FakeHub.url`).

- `GET /api/models/<org>/<name>[/revision/<rev>]?blobs=true`: the model info with its files
  (`siblings`: size, git blob id, LFS sha256 for *.safetensors);
- `HEAD|GET /<org>/<name>/resolve/<rev>/<file>`: ETag, X-Repo-Commit, Content-Length, and
  `Range: bytes=N-` answered with 206 and Content-Range.
Errors as the hub sends them: 401 + `X-Error-Code: RepoNotFound` for an unknown repository,
401 + `GatedRepo` for a gated one without a valid token, 404 + `EntryNotFound` for a file.
Faults for tests: drop the connection after N bytes of a file (once), serve a file corrupted,
stall a path until the fake stops, ignore Range headers.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PIECE = 16 * 1024  # bytes written per send


@dataclass
class Repo:
    id: str
    files: dict[str, bytes]
    gated: bool = False
    sha: str = ""

    def __post_init__(self) -> None:
        digest = hashlib.sha1(self.id.encode())
        for name in sorted(self.files):
            digest.update(name.encode() + hashlib.sha256(self.files[name]).digest())
        self.sha = digest.hexdigest()

    def etag(self, name: str) -> str:
        data = self.files[name]
        if is_lfs(name):
            return hashlib.sha256(data).hexdigest()
        return git_blob_id(data)


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class FakeHub:
    repos: dict[str, Repo] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    drop_after: dict[str, int] = field(default_factory=dict)  # file -> bytes, then drop (once)
    corrupt: set[str] = field(default_factory=set)  # files served with one byte flipped
    missing: set[str] = field(default_factory=set)  # files listed but answered with 404
    stall: set[str] = field(default_factory=set)  # path prefixes that never answer
    ignore_range: bool = False
    piece_delay: float = 0.0  # seconds between pieces (a slow connection)
    tokens: set[str] = field(default_factory=lambda: {"hf_valid_token"})
    sent: dict[str, int] = field(default_factory=dict)  # file -> body bytes sent in all

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def add_repo(
        self,
        repo_id: str,
        folder: Path | None = None,
        gated: bool = False,
        extra: dict[str, bytes] | None = None,
    ) -> Repo:
        """A repository serving the files of `folder` (top level) plus `extra` ones."""
        files = {}
        if folder is not None:
            files = {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}
        files.update(extra or {})
        repo = Repo(repo_id, files, gated)
        self.repos[repo_id] = repo
        return repo

    def gets(self, name: str) -> list[Request]:
        """The GET requests for file `name`."""
        return [r for r in self.requests if r.method == "GET" and r.path.endswith("/" + name)]

    def start(self) -> FakeHub:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()


def is_lfs(name: str) -> bool:
    return name.endswith((".safetensors", ".bin", ".onnx", ".h5", ".msgpack", ".gguf"))


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


INFO = re.compile(r"^/api/models/([^/]+/[^/]+?)(?:/revision/([^/?]+))?(?:\?.*)?$")
RESOLVE = re.compile(r"^/([^/]+/[^/]+)/resolve/([^/]+)/([^?]+)(?:\?.*)?$")


def _handler_for(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

        def do_HEAD(self) -> None:  # noqa: N802
            self._answer(body=False)

        def do_GET(self) -> None:  # noqa: N802
            self._answer(body=True)

        def _answer(self, body: bool) -> None:
            with hub._lock:
                hub.requests.append(Request(self.command, self.path, dict(self.headers)))
            if any(self.path.startswith(prefix) for prefix in hub.stall):
                hub._stop.wait(30)
                return
            if match := INFO.match(self.path):
                return self._info(match.group(1))
            if match := RESOLVE.match(self.path):
                return self._file(match.group(1), match.group(3), body)
            self._error(404, "", "Not found")

        def _error(self, status: int, code: str, message: str) -> None:
            data = json.dumps({"error": message}).encode()
            self.send_response(status)
            if code:
                self.send_header("X-Error-Code", code)
            self.send_header("X-Error-Message", message)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _repo(self, repo_id: str) -> Repo | None:
            repo = hub.repos.get(repo_id)
            if repo is None:
                self._error(401, "RepoNotFound", "Repository not found")
            return repo

        def _info(self, repo_id: str) -> None:
            repo = self._repo(repo_id)
            if repo is None:
                return
            siblings = []
            for name, data in sorted(repo.files.items()):
                sibling: dict = {"rfilename": name, "size": len(data), "blobId": git_blob_id(data)}
                if is_lfs(name):
                    sha = hashlib.sha256(data).hexdigest()
                    sibling["lfs"] = {"size": len(data), "sha256": sha, "pointerSize": 134}
                siblings.append(sibling)
            info = {
                "_id": "0" * 24,
                "id": repo.id,
                "modelId": repo.id,
                "sha": repo.sha,
                "private": False,
                "gated": "manual" if repo.gated else False,
                "disabled": False,
                "tags": [],
                "siblings": siblings,
            }
            data = json.dumps(info).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _file(self, repo_id: str, name: str, body: bool) -> None:
            repo = self._repo(repo_id)
            if repo is None:
                return
            token = self.headers.get("Authorization", "").removeprefix("Bearer ")
            if repo.gated and token not in hub.tokens:
                message = (
                    f"Access to model {repo_id} is restricted. You must have access to it and "
                    "be authenticated to access it. Please log in."
                )
                return self._error(401, "GatedRepo", message)
            if name not in repo.files or name in hub.missing:
                return self._error(404, "EntryNotFound", f"{name} does not exist")
            data = repo.files[name]
            if name in hub.corrupt:
                data = bytes([data[0] ^ 0xFF]) + data[1:]
            start = 0
            ranged = re.match(r"bytes=(\d+)-$", self.headers.get("Range", ""))
            if ranged and not hub.ignore_range:
                start = int(ranged.group(1))
                if start >= len(data):
                    return self._error(416, "", "Range not satisfiable")
            self.send_response(206 if start else 200)
            self.send_header("ETag", f'"{repo.etag(name)}"')
            if is_lfs(name):
                self.send_header("X-Linked-Etag", f'"{repo.etag(name)}"')
                self.send_header("X-Linked-Size", str(len(data)))
            self.send_header("X-Repo-Commit", repo.sha)
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(len(data) - start))
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.end_headers()
            if body:
                self._send(name, data[start:])

        def _send(self, name: str, data: bytes) -> None:
            with hub._lock:
                drop = hub.drop_after.pop(name, None)
            sent = 0
            while sent < len(data):
                if drop is not None and sent >= drop:
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                piece = data[sent : sent + PIECE]
                try:
                    self.wfile.write(piece)
                    self.wfile.flush()
                except OSError:  # the client went away (a cancel)
                    self.close_connection = True
                    return
                sent += len(piece)
                with hub._lock:
                    hub.sent[name] = hub.sent.get(name, 0) + len(piece)
                if hub.piece_delay:
                    time.sleep(hub.piece_delay)

    return Handler
