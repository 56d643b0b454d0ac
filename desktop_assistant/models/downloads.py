"""Downloading a model from the Hugging Face hub: only when the user asks, resumable, verified.

The requests go through huggingface_hub (see hub.py). We do not call `hf_hub_download` /
`snapshot_download` themselves because in huggingface_hub 2.x they:
- delete a partial file on any failure (each attempt writes a process-unique temp file), so
  nothing survives a cancel, a connection lost beyond their retries, or a restart of the app;
- check only the size of what arrived, not its sha256;
- report progress, and could be cancelled, only every 10 MB (`DOWNLOAD_CHUNK_SIZE`).
Here each file grows in `<file>.part` under `registry.partial_dir()/<org>--<name>/`, is resumed
with an HTTP Range request (after a dropped connection, a cancel or a restart), and is checked
against the hub's sha256 (LFS files) or git blob id (small files) before it counts as done.
When every file is there, the manifest is written and the folder moves into the models folder
in one rename.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop_assistant.models import hub, registry
from desktop_assistant.models.catalog import CatalogEntry, folder_name, load_catalog
from desktop_assistant.models.hub import DownloadError, Hashes, RemoteFile, network_allowed

CHUNK = 256 * 1024  # progress and cancel are checked per chunk
STATE = "download.json"  # in the partial folder: the commit, and the files already verified
__all__ = ["CHUNK", "Download", "DownloadError", "DownloadProgress", "network_allowed"]
_running: set[str] = set()  # models being downloaded in this process (one writer per folder)
_running_lock = threading.Lock()


@dataclass(frozen=True)
class DownloadProgress:
    model_id: str
    file: str  # the file being fetched ("" while listing or installing)
    done: int  # bytes of the model on disk so far, resumed parts included
    total: int  # bytes of the model's files
    speed: float  # bytes per second over the last few seconds (0 until measured)
    eta_s: float | None  # seconds left at that speed; None while unknown
    files_done: int
    files_total: int


class Download:
    """Fetch one model into the models folder. `run()` blocks (call it on a worker thread);
    `cancel()` may be called from any thread and keeps what was fetched for a later resume."""

    def __init__(
        self,
        model: str | CatalogEntry,
        on_progress: Callable[[DownloadProgress], None] | None = None,
        *,
        token: str | None = None,  # None: huggingface_hub's (HF_TOKEN or `hf auth login`)
        timeout: float = 20.0,  # seconds without an answer or a byte before giving up
        retries: int = 4,  # attempts in a row without a byte before giving up
        backoff: float = 1.0,  # seconds before the first retry, doubling
    ) -> None:
        entry = load_catalog().get(model) if isinstance(model, str) else model
        self.entry = entry
        self.model_id = entry.id if entry else str(model).strip().strip("/")
        self.patterns = entry.files if entry else load_catalog().files
        self.on_progress = on_progress or (lambda progress: None)
        self.token = token
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        self.staging = registry.partial_dir() / folder_name(self.model_id)
        self._cancel = threading.Event()
        self._files: list[RemoteFile] = []
        self._revision = "main"
        self._done = 0
        self._files_done = 0
        self._samples: deque[tuple[float, int]] = deque()
        self._last_report = 0.0

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def run(self) -> registry.InstalledModel:
        installed = registry.find_installed(self.model_id)
        if installed is not None:
            return installed
        if self.model_id.count("/") != 1:
            raise DownloadError(f"{self.model_id!r} is not a model id (org/name)", "not_found")
        key = self.model_id.lower()
        with _running_lock:
            if key in _running:
                raise DownloadError(f"{self.model_id} is already being downloaded", "failed")
            _running.add(key)
        try:
            with network_allowed():
                return self._run()
        except Exception as err:
            access = self.entry.access if self.entry else ""
            total = sum(f.size for f in self._files)
            raise hub.explain(err, self.model_id, access, self.timeout, total - self._done) from (
                None if isinstance(err, DownloadError) else err
            )
        finally:
            with _running_lock:
                _running.discard(key)

    def _run(self) -> registry.InstalledModel:
        self._report("", force=True)
        self._revision, files = hub.list_files(
            self.model_id, self.patterns, self.token, self.timeout
        )
        if not any(f.is_weights for f in files):
            raise DownloadError(
                f"{self.model_id} has no weights in safetensors format on the hub, the only "
                "format this app loads (pickle .bin files can run code)",
                "refused",
            )
        self._prepare_staging()
        self._files = sorted(files, key=lambda f: (f.is_weights, f.size))
        self._check_disk()
        for remote in [f for f in self._files if not f.is_weights]:  # small files first
            self._fetch(remote)
        self._after_small_files()
        for remote in [f for f in self._files if f.is_weights]:
            self._fetch(remote)
        return self._install()

    def _prepare_staging(self) -> None:
        state = self._state()
        if state.get("revision") != self._revision:  # the repository changed: start over
            shutil.rmtree(self.staging, ignore_errors=True)
            state = {"id": self.model_id, "revision": self._revision, "done": {}}
        self.staging.mkdir(parents=True, exist_ok=True)
        self._save_state(state)

    def _state(self) -> dict[str, Any]:
        try:
            return dict(json.loads((self.staging / STATE).read_text(encoding="utf-8")))
        except (OSError, ValueError):
            return {}

    def _save_state(self, state: dict[str, Any]) -> None:
        tmp = self.staging / (STATE + ".tmp")
        tmp.write_text(json.dumps(state, indent=2), encoding="utf-8")
        tmp.replace(self.staging / STATE)

    def _on_disk(self, remote: RemoteFile) -> int:
        for path in (self.staging / remote.name, self.staging / (remote.name + ".part")):
            if path.is_file():
                return min(path.stat().st_size, remote.size)
        return 0

    def _check_disk(self) -> None:
        self._done = sum(self._on_disk(f) for f in self._files)
        self._samples.clear()  # speed counts what arrives now, not what was kept
        fit = registry.disk_fit(sum(f.size for f in self._files) - self._done, self.staging)
        if fit.verdict == registry.WONT_FIT:
            raise DownloadError(
                f"not enough disk space for {self.model_id}: it {fit.describe()} on the disk of "
                f"{registry.partial_dir().parent}; free some space and try again",
                "disk_full",
            )

    def _after_small_files(self) -> None:
        """Once config.json is here: refuse models that need their own code, and fetch only
        the shards a safetensors index names (some repositories hold two copies)."""
        try:
            config = json.loads((self.staging / "config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            config = None
        problem = ""
        if not isinstance(config, dict):
            problem = "has no readable config.json; it is not a transformers model"
        elif config.get("auto_map"):
            problem = (
                "needs to run code shipped with the model (auto_map in config.json); for your "
                "safety this app only runs models transformers supports natively"
            )
        if problem:
            shutil.rmtree(self.staging, ignore_errors=True)
            raise DownloadError(f"{self.model_id} {problem}", "refused")
        shards: set[str] = set()
        for index in self.staging.glob("*.safetensors.index.json"):
            weight_map = json.loads(index.read_text(encoding="utf-8")).get("weight_map", {})
            shards |= set(weight_map.values())
        if shards:
            self._files = [f for f in self._files if not f.is_weights or f.name in shards]
            self._done = sum(self._on_disk(f) for f in self._files)
            self._samples.clear()

    def _fetch(self, remote: RemoteFile) -> None:
        """Fetch one file into `<name>.part`, resuming what is there, then verify it."""
        final, part = self.staging / remote.name, self.staging / (remote.name + ".part")
        if final.is_file():
            if remote.name in self._state().get("done", {}):
                self._files_done += 1
                return
            final.replace(part)  # stopped between the rename and the state: check it again
        offset = part.stat().st_size if part.is_file() else 0
        if offset > remote.size:
            self._done -= remote.size
            part.unlink()
            offset = 0
        hashes = Hashes(remote.size)
        if offset:
            hashes.add_file(part)
        failures = 0
        while offset < remote.size or not part.is_file():
            before = offset
            try:
                offset = self._stream(remote, part, offset, hashes)
                if offset < remote.size:
                    raise hub.ShortRead(f"{remote.name} ended early")
            except hub.transport_errors():
                offset = part.stat().st_size if part.is_file() else 0
                failures = 0 if offset > before else failures + 1
                if failures > self.retries:
                    raise
                if self._cancel.wait(self.backoff * 2 ** max(failures - 1, 0)):
                    raise self._cancelled() from None
        self._verify(remote, part, hashes)
        part.replace(final)
        state = self._state()
        state.setdefault("done", {})[remote.name] = hashes.sha256.hexdigest()
        self._save_state(state)
        self._files_done += 1
        self._report(remote.name, force=True)

    def _stream(self, remote: RemoteFile, part: Path, offset: int, hashes: Hashes) -> int:
        """Append what the server sends to `part`; returns the new size."""
        with hub.open_file(
            self.model_id,
            remote.name,
            self._revision,
            offset,
            self.token,
            self.timeout,
            self.backoff,
        ) as response:
            if offset and response.status_code != 206:  # the Range was ignored: start again
                self._done -= offset
                offset = 0
                hashes.reset()
                part.write_bytes(b"")
            with open(part, "ab") as out:
                for chunk in response.iter_bytes(CHUNK):
                    if self._cancel.is_set():
                        raise self._cancelled()
                    out.write(chunk)
                    hashes.update(chunk)
                    offset += len(chunk)
                    self._done += len(chunk)
                    self._report(remote.name)
        return offset

    def _verify(self, remote: RemoteFile, part: Path, hashes: Hashes) -> None:
        if hashes.matches(remote) and part.stat().st_size == remote.size:
            return
        self._done -= part.stat().st_size
        part.unlink(missing_ok=True)
        raise DownloadError(
            f"{remote.name} of {self.model_id} arrived damaged (its checksum does not match "
            "the hub's); it was deleted, try the download again",
            "checksum",
        )

    def _install(self) -> registry.InstalledModel:
        self._report("", force=True)
        config = json.loads((self.staging / "config.json").read_text(encoding="utf-8"))
        done = self._state().get("done", {})
        for leftover in (STATE, STATE + ".tmp"):
            (self.staging / leftover).unlink(missing_ok=True)
        registry.write_manifest(
            self.staging,
            model_id=self.model_id,
            role=self.entry.role if self.entry else registry.role_of_config(config),
            source="download",
            origin=self.model_id,
            files={f.name: (f.size, done[f.name]) for f in self._files},
            revision=self._revision,
            architecture=str(config.get("model_type", "")),
        )
        target = registry.model_dir(self.model_id)
        shutil.rmtree(target, ignore_errors=True)  # a folder without manifest: not installed
        os.replace(self.staging, target)
        installed = registry.read_manifest(target)
        assert installed is not None
        return installed

    def _report(self, name: str, force: bool = False) -> None:
        """A progress event, at most every 0.1 s; speed over the last 5 s."""
        now = time.monotonic()
        if not force and now - self._last_report < 0.1:
            return
        self._last_report = now
        self._samples.append((now, self._done))
        while len(self._samples) > 2 and now - self._samples[0][0] > 5.0:
            self._samples.popleft()
        t0, b0 = self._samples[0]
        speed = max((self._done - b0) / (now - t0), 0.0) if now - t0 > 0.2 else 0.0
        total = sum(f.size for f in self._files)
        left = max(total - self._done, 0)
        eta = left / speed if speed > 0 else (0.0 if total and not left else None)
        self.on_progress(
            DownloadProgress(
                self.model_id,
                name,
                self._done,
                total,
                speed,
                eta,
                self._files_done,
                len(self._files),
            )
        )

    def _cancelled(self) -> DownloadError:
        return DownloadError(
            f"download of {self.model_id} cancelled; what was fetched is kept and the next "
            "download resumes from there",
            "cancelled",
        )
