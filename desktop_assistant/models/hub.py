"""The app's only door to the network: the Hugging Face hub, through huggingface_hub, and
only while the user downloads a model.

Offline by default: the app sets `HF_HUB_OFFLINE=1` before huggingface_hub is imported, and
huggingface_hub then refuses every request (its request hook reads
`huggingface_hub.constants.HF_HUB_OFFLINE`). `network_allowed()` clears that flag only while a
download runs and sets it back afterwards, whatever it was before. The flag is process-wide:
during a download other huggingface_hub calls could reach the network too, but the app's only
other callers load local folders with `local_files_only=True`, which never does.

Requests use huggingface_hub's own pieces: `HfApi.model_info` (files with sizes and
checksums), `hf_hub_url`, its shared HTTP session, `build_hf_headers` (a token from `HF_TOKEN`
or `hf auth login`) and `hf_raise_for_status` (gated, not found, ...). The endpoint is
`HF_ENDPOINT` read at call time (tests point it at a fake hub on 127.0.0.1).
"""

from __future__ import annotations

import errno
import hashlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from desktop_assistant.core.errors import UserError
from desktop_assistant.models.catalog import human_size, wanted_file

DEFAULT_ENDPOINT = "https://huggingface.co"
TOKEN_HELP = (
    "create a read token at https://huggingface.co/settings/tokens and set it in the HF_TOKEN "
    "environment variable, or run `hf auth login`"
)


class DownloadError(UserError):
    """A download that could not finish; `kind` lets the window react (e.g. offer import)."""

    def __init__(self, message: str, kind: str = "failed") -> None:
        super().__init__(message)
        # offline, timeout, not_found, gated, disk_full, checksum, refused, cancelled, failed
        self.kind = kind


@dataclass(frozen=True)
class RemoteFile:
    name: str
    size: int
    sha256: str  # LFS files: the content's sha256 ("" for small files kept in git)
    blob_id: str  # git object id: sha1 of b"blob <size>\0" + content

    @property
    def is_weights(self) -> bool:
        return self.name.endswith(".safetensors")


class ShortRead(Exception):
    """The server closed the response before the whole file arrived."""


_lock = threading.Lock()
_users = 0


def hub_module() -> Any:
    """huggingface_hub, imported offline: requests are refused unless a download runs."""
    from desktop_assistant.core.offline import go_offline

    go_offline()  # already done by the entry point; not by every caller (tests, scripts)
    import huggingface_hub
    import huggingface_hub.constants  # a submodule the package does not import eagerly

    with _lock:
        if _users == 0:
            huggingface_hub.constants.HF_HUB_OFFLINE = True
    return huggingface_hub


@contextmanager
def network_allowed() -> Iterator[None]:
    """Let huggingface_hub reach the network for the duration (see the module doc)."""
    global _users
    from desktop_assistant.core.offline import allow_network

    constants = hub_module().constants
    with _lock:
        _users += 1
        constants.HF_HUB_OFFLINE = False
    try:
        with allow_network():  # and the socket guard (core/offline.py)
            yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                constants.HF_HUB_OFFLINE = True


def endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def list_files(
    model_id: str, patterns: tuple[str, ...], token: str | None, timeout: float
) -> tuple[str, list[RemoteFile]]:
    """The commit the hub serves now and the wanted files in it (sizes and checksums)."""
    hub = hub_module()
    info = hub.HfApi(endpoint=endpoint(), token=token).model_info(
        model_id, files_metadata=True, timeout=timeout
    )
    files = [
        RemoteFile(
            s.rfilename,
            int(s.size or (s.lfs.size if s.lfs else 0)),
            s.lfs.sha256 if s.lfs else "",
            s.blob_id or "",
        )
        for s in info.siblings or []
        if wanted_file(s.rfilename, patterns)
    ]
    return str(info.sha or "main"), files


@contextmanager
def open_file(
    model_id: str,
    name: str,
    revision: str,
    offset: int,
    token: str | None,
    timeout: float,
    backoff: float,
) -> Iterator[Any]:
    """A streamed response for `name` from byte `offset` (206), or from the start (200) when
    the server ignores the Range; HTTP errors raise huggingface_hub's errors."""
    hub = hub_module()
    from huggingface_hub.utils import build_hf_headers, hf_raise_for_status, http_stream_backoff

    url = hub.hf_hub_url(model_id, name, revision=revision, endpoint=endpoint())
    headers = build_hf_headers(token=token, library_name="desktop-assistant")
    if offset:
        headers["Range"] = f"bytes={offset}-"
    with http_stream_backoff(
        "GET",
        url,
        headers=headers,
        timeout=timeout,
        max_retries=2,  # on 429 and 5xx answers; dropped connections are resumed by the caller
        base_wait_time=backoff,
        retry_on_exceptions=(),
    ) as response:
        if response.status_code >= 400:
            response.read()
            hf_raise_for_status(response)
        yield response


class Hashes:
    """sha256 of the content and its git blob id, computed as the bytes arrive."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.reset()

    def reset(self) -> None:
        self.sha256 = hashlib.sha256()
        self.git = hashlib.sha1(f"blob {self.size}\0".encode(), usedforsecurity=False)

    def update(self, data: bytes) -> None:
        self.sha256.update(data)
        self.git.update(data)

    def add_file(self, path: Path) -> None:
        with open(path, "rb") as f:
            while block := f.read(1 << 20):
                self.update(block)

    def matches(self, remote: RemoteFile) -> bool:
        if remote.sha256:
            return self.sha256.hexdigest() == remote.sha256
        return not remote.blob_id or self.git.hexdigest() == remote.blob_id


def httpx_module() -> Any:
    try:
        import httpx2 as httpx  # what huggingface_hub 2.x uses
    except ImportError:  # pragma: no cover - an older huggingface_hub
        import httpx  # type: ignore[no-redef]
    return httpx


def transport_errors() -> tuple[type[Exception], ...]:
    """A dropped or stalled connection: worth resuming."""
    return (httpx_module().TransportError, ShortRead)


def explain(
    err: BaseException, model_id: str, access: str = "", timeout: float = 0, needed: int = 0
) -> DownloadError:
    """The user's version of whatever went wrong while downloading `model_id`."""
    from huggingface_hub import errors as hub_errors

    host = urlparse(endpoint()).netloc or endpoint()
    resumes = "the download resumes where it stopped"
    if isinstance(err, DownloadError):
        return err
    if isinstance(err, hub_errors.GatedRepoError):
        how = access or (
            f"sign in at {host}, open the model's page and accept its licence, then {TOKEN_HELP}"
        )
        return DownloadError(f"{model_id} is gated: the hub needs your access. {how}", "gated")
    if isinstance(err, hub_errors.RepositoryNotFoundError):
        return DownloadError(
            f"{model_id} was not found on {host} (or it is private: then {TOKEN_HELP})",
            "not_found",
        )
    if isinstance(err, (hub_errors.EntryNotFoundError, hub_errors.RevisionNotFoundError)):
        return DownloadError(f"a file of {model_id} is missing on {host} (404)", "not_found")
    if isinstance(err, hub_errors.HfHubHTTPError):
        status = getattr(err.response, "status_code", 0)
        if status in (401, 403):
            return DownloadError(
                f"{host} refused access to {model_id} ({status}); {TOKEN_HELP}", "gated"
            )
        return DownloadError(
            f"{host} answered with an error ({status}) for {model_id}; try again later", "failed"
        )
    httpx = httpx_module()
    if isinstance(err, httpx.TimeoutException):
        return DownloadError(
            f"{host} did not answer within {timeout:.0f} s; check your connection and try "
            f"again ({resumes})",
            "timeout",
        )
    if isinstance(err, (httpx.ConnectError, hub_errors.OfflineModeIsEnabled)):
        return DownloadError(
            f"cannot reach {host}: no network connection? Connect and try again, or import a "
            "model you already have (a model folder or a GGUF file)",
            "offline",
        )
    if isinstance(err, (httpx.TransportError, ShortRead)):
        return DownloadError(
            f"the connection to {host} kept dropping; try again later ({resumes})", "offline"
        )
    if isinstance(err, OSError) and err.errno == errno.ENOSPC:
        return DownloadError(
            f"the disk is full: {model_id} did not fit ({human_size(needed)} more were "
            f"needed); free some space and download again ({resumes})",
            "disk_full",
        )
    if isinstance(err, OSError):
        return DownloadError(f"could not write {model_id} to disk: {err}", "failed")
    return DownloadError(f"download of {model_id} failed: {type(err).__name__}: {err}", "failed")
