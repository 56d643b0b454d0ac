"""Downloads through huggingface_hub against a fake hub on 127.0.0.1 serving a real tiny model."""

from __future__ import annotations

import errno
import hashlib
import json
import socket

import pytest

from desktop_assistant.core.errors import UserError
from desktop_assistant.models import downloads, hub, registry
from desktop_assistant.models.catalog import CatalogEntry, load_catalog
from desktop_assistant.models.downloads import Download, DownloadError
from desktop_assistant.models.model_folder import check_model_folder

REPO = "tiny-org/tiny-chat"
JUNK = {  # other formats a repository may hold: never fetched
    "pytorch_model.bin": b"\x80\x02pickle" * 100,
    "tf_model.h5": b"h5" * 100,
    "flax_model.msgpack": b"msgpack" * 100,
    "model.gguf": b"GGUF" * 100,
    "onnx/model.onnx": b"onnx" * 100,
    "README.md": b"# tiny\n",
}


@pytest.fixture
def fake_hub(serve_hub, tiny_chat_dir):
    return serve_hub((REPO, tiny_chat_dir, {"extra": JUNK}))


def fetch(model=REPO, **kwargs) -> tuple[registry.InstalledModel, list]:
    events: list = []
    kwargs.setdefault("backoff", 0.0)
    kwargs.setdefault("timeout", 5.0)
    installed = Download(model, events.append, **kwargs).run()
    return installed, events


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_downloads_only_safetensors_and_small_files_with_progress(fake_hub, tiny_chat_dir):
    installed, events = fetch()
    expected = {p.name for p in tiny_chat_dir.iterdir() if p.is_file()}
    got = {p.name for p in installed.path.iterdir()} - {registry.MANIFEST}
    assert got == expected and "model.safetensors" in got
    for name in JUNK:
        assert not fake_hub.gets(name.split("/")[-1]), f"{name} was fetched"
    for name in expected:
        assert (installed.path / name).read_bytes() == (tiny_chat_dir / name).read_bytes()
        assert installed.sha256[name] == sha256((tiny_chat_dir / name).read_bytes())
    assert installed.id == REPO and installed.source == "download" and installed.role == "chat"
    assert installed.revision == fake_hub.repos[REPO].sha and installed.architecture == "qwen2"
    assert (
        installed.path == registry.model_dir(REPO)
        and not registry.partial_dir().joinpath("tiny-org--tiny-chat").exists()
    )
    check_model_folder(installed.path)
    total = sum((tiny_chat_dir / n).stat().st_size for n in expected)
    assert events[-1].done == events[-1].total == total == installed.size
    assert events[-1].files_done == events[-1].files_total == len(expected)
    dones = [e.done for e in events]
    assert dones == sorted(dones)
    assert all(e.model_id == REPO and e.speed >= 0 for e in events)
    assert registry.find_installed(REPO) == installed
    assert fetch()[0] == installed  # already installed: no network at all
    assert hub.hub_module().constants.HF_HUB_OFFLINE  # offline again


def test_speed_and_eta_are_reported(fake_hub):
    fake_hub.piece_delay = 0.02  # a slow connection: ~0.8 MB/s
    _, events = fetch()
    moving = [e for e in events if e.speed > 0 and e.done < e.total]
    assert moving, events
    assert all(e.eta_s is not None and e.eta_s >= 0 for e in moving)
    assert 50e3 < moving[-1].speed < 50e6


def test_huggingface_hub_refuses_the_network_outside_a_download(fake_hub):
    from huggingface_hub.errors import OfflineModeIsEnabled

    with pytest.raises(OfflineModeIsEnabled):
        hub.list_files(REPO, load_catalog().files, None, 5.0)
    with hub.network_allowed():
        revision, files = hub.list_files(REPO, load_catalog().files, None, 5.0)
    assert revision == fake_hub.repos[REPO].sha and "model.safetensors" in {f.name for f in files}
    assert hub.hub_module().constants.HF_HUB_OFFLINE


def test_resumes_after_the_server_drops_the_connection(fake_hub, tiny_chat_dir):
    size = (tiny_chat_dir / "model.safetensors").stat().st_size
    fake_hub.drop_after["model.safetensors"] = 64 * 1024
    installed, _ = fetch()
    gets = fake_hub.gets("model.safetensors")
    assert len(gets) == 2
    assert "Range" not in gets[0].headers
    resumed_at = int(gets[1].headers["Range"].removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed_at <= 64 * 1024
    assert fake_hub.sent["model.safetensors"] == size  # nothing fetched twice
    data = (installed.path / "model.safetensors").read_bytes()
    assert data == (tiny_chat_dir / "model.safetensors").read_bytes()


def test_cancel_keeps_the_part_and_a_new_download_resumes_it(fake_hub, tiny_chat_dir):
    fake_hub.piece_delay = 0.02
    size = (tiny_chat_dir / "model.safetensors").stat().st_size

    def cancel_in_weights(progress):
        if progress.file == "model.safetensors" and progress.done > 0:
            download.cancel()

    download = Download(REPO, cancel_in_weights, backoff=0.0, timeout=5.0)
    with pytest.raises(DownloadError) as caught:
        download.run()
    assert caught.value.kind == "cancelled" and "resumes" in str(caught.value)
    assert registry.find_installed(REPO) is None
    part = registry.partial_dir() / "tiny-org--tiny-chat" / "model.safetensors.part"
    kept = part.stat().st_size
    assert 0 < kept < size
    fake_hub.piece_delay = 0.0
    installed, events = fetch()  # a new Download: as after a restart of the app
    last = fake_hub.gets("model.safetensors")[-1]
    assert last.headers["Range"] == f"bytes={kept}-"
    sized = [e for e in events if e.total]
    assert events[0].total == 0 and sized[0].done >= kept  # what was kept counts from the start
    assert (installed.path / "model.safetensors").read_bytes() == (
        tiny_chat_dir / "model.safetensors"
    ).read_bytes()


def test_a_server_that_ignores_range_restarts_the_file(fake_hub, tiny_chat_dir):
    fake_hub.drop_after["model.safetensors"] = 64 * 1024
    fake_hub.ignore_range = True
    installed, events = fetch()
    assert (installed.path / "model.safetensors").read_bytes() == (
        tiny_chat_dir / "model.safetensors"
    ).read_bytes()
    assert events[-1].done == events[-1].total


def test_checksum_mismatch_is_detected(fake_hub):
    fake_hub.corrupt.add("model.safetensors")
    with pytest.raises(DownloadError) as caught:
        fetch()
    assert caught.value.kind == "checksum" and "model.safetensors" in str(caught.value)
    assert registry.find_installed(REPO) is None
    assert not (registry.partial_dir() / "tiny-org--tiny-chat" / "model.safetensors.part").exists()
    fake_hub.corrupt.clear()
    assert fetch()[0].id == REPO  # the next try starts that file again


def test_small_files_are_checked_against_their_git_blob_id(fake_hub):
    fake_hub.corrupt.add("config.json")
    with pytest.raises(DownloadError) as caught:
        fetch()
    assert caught.value.kind == "checksum" and "config.json" in str(caught.value)


def test_unknown_model_and_missing_file(fake_hub):
    with pytest.raises(DownloadError) as caught:
        fetch("nobody/nothing")
    assert caught.value.kind == "not_found" and "nobody/nothing was not found" in str(caught.value)
    fake_hub.missing.add("model.safetensors")
    with pytest.raises(DownloadError) as caught:
        fetch()
    assert caught.value.kind == "not_found" and "404" in str(caught.value)
    with pytest.raises(DownloadError):
        fetch("not-an-id")


def test_gated_model_explains_how_to_get_access(fake_hub, tiny_chat_dir):
    fake_hub.add_repo("meta-llama/Llama-3.2-1B-Instruct", tiny_chat_dir, gated=True)
    entry = load_catalog().get("meta-llama/Llama-3.2-1B-Instruct")
    assert entry is not None and entry.gated
    with pytest.raises(DownloadError) as caught:
        fetch(entry)
    message = str(caught.value)
    assert caught.value.kind == "gated" and isinstance(caught.value, UserError)
    assert "accept" in message and "HF_TOKEN" in message and "settings/tokens" in message
    with pytest.raises(DownloadError) as caught:
        fetch(entry, token="hf_wrong")
    assert caught.value.kind == "gated"
    installed, _ = fetch(entry, token="hf_valid_token")
    assert installed.id == entry.id and installed.role == "chat"


def test_timeout_and_no_network_are_explained(fake_hub):
    fake_hub.stall.add("/api/models/")
    with pytest.raises(DownloadError) as caught:
        fetch(timeout=0.5)
    assert caught.value.kind == "timeout" and "did not answer within" in str(caught.value)
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    fake_hub.stall.clear()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
        with pytest.raises(DownloadError) as caught:
            fetch()
    assert caught.value.kind == "offline" and "import" in str(caught.value)


def test_stalled_file_times_out(fake_hub):
    repo = fake_hub.repos[REPO]
    fake_hub.stall.add(f"/{REPO}/resolve/{repo.sha}/model.safetensors")
    with pytest.raises(DownloadError) as caught:
        fetch(timeout=0.5, retries=1)
    assert caught.value.kind == "timeout"


def test_not_enough_disk_space_is_refused_before_downloading(fake_hub, monkeypatch):
    monkeypatch.setattr(registry, "free_disk", lambda folder: 1000)
    with pytest.raises(DownloadError) as caught:
        fetch()
    assert caught.value.kind == "disk_full" and "free some space" in str(caught.value)
    assert not fake_hub.gets("model.safetensors")


def test_disk_full_while_writing_keeps_what_was_written(fake_hub, monkeypatch, tiny_chat_dir):
    real_open = open

    class FillsUp:
        def __init__(self, file):
            self.file, self.written = file, 0

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.file.close()

        def write(self, data):
            if self.written >= 32 * 1024:
                raise OSError(errno.ENOSPC, "No space left on device")
            self.written += len(data)
            return self.file.write(data)

    def fake_open(path, mode="r", *args, **kwargs):
        file = real_open(path, mode, *args, **kwargs)
        return FillsUp(file) if str(path).endswith(".safetensors.part") else file

    with monkeypatch.context() as patch:  # undone on leaving: the disk has room again
        patch.setattr(downloads, "open", fake_open, raising=False)
        with pytest.raises(DownloadError) as caught:
            fetch()
    assert caught.value.kind == "disk_full" and "disk is full" in str(caught.value)
    part = registry.partial_dir() / "tiny-org--tiny-chat" / "model.safetensors.part"
    assert part.stat().st_size == 32 * 1024
    installed, _ = fetch()
    assert (installed.path / "model.safetensors").read_bytes() == (
        tiny_chat_dir / "model.safetensors"
    ).read_bytes()


def test_model_that_needs_its_own_code_is_refused_before_its_weights(fake_hub, tiny_chat_dir):
    config = json.loads((tiny_chat_dir / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_evil.EvilModel"}
    files = {p.name: p.read_bytes() for p in tiny_chat_dir.iterdir() if p.is_file()}
    files["config.json"] = json.dumps(config).encode()
    fake_hub.add_repo("evil/remote-code", extra=files)
    with pytest.raises(DownloadError) as caught:
        fetch("evil/remote-code")
    assert caught.value.kind == "refused" and "auto_map" in str(caught.value)
    assert not fake_hub.gets("model.safetensors")


def test_pickle_only_repository_is_refused(fake_hub):
    fake_hub.add_repo("old/pickles", extra={"config.json": b"{}", **JUNK})
    with pytest.raises(DownloadError) as caught:
        fetch("old/pickles")
    assert caught.value.kind == "refused" and "safetensors" in str(caught.value)


def test_catalog_entry_role_is_used(fake_hub, tiny_whisper_dir):
    entry = CatalogEntry(
        id="tiny-org/tiny-whisper",
        role="speech",
        architecture="whisper",
        parameters=1,
        download={"fp32": 1},
        context=448,
        licence="MIT",
        min_ram=1,
        description="test",
        files=load_catalog().files,
    )
    fake_hub.add_repo(entry.id, tiny_whisper_dir)
    installed, _ = fetch(entry)
    assert installed.role == "speech" and installed.architecture == "whisper"


def _cancelled_midway(fake_hub) -> None:
    fake_hub.piece_delay = 0.02

    def cancel_in_weights(progress):
        if progress.file == "model.safetensors" and progress.done > 0:
            download.cancel()

    download = Download(REPO, cancel_in_weights, backoff=0.0, timeout=5.0)
    with pytest.raises(DownloadError):
        download.run()
    fake_hub.piece_delay = 0.0


def test_a_changed_repository_starts_over(fake_hub, tiny_chat_dir):
    _cancelled_midway(fake_hub)
    fake_hub.add_repo(REPO, tiny_chat_dir, extra={"generation_config.json": b"{}"})  # new commit
    installed, _ = fetch()
    assert "Range" not in fake_hub.gets("model.safetensors")[-1].headers
    assert installed.revision == fake_hub.repos[REPO].sha


def test_one_download_per_model_at_a_time(fake_hub):
    import threading

    fake_hub.piece_delay = 0.02
    started = threading.Event()
    first = Download(REPO, lambda progress: started.set(), backoff=0.0, timeout=5.0)
    thread = threading.Thread(target=lambda: pytest.raises(DownloadError, first.run))
    thread.start()
    assert started.wait(10)
    with pytest.raises(DownloadError, match="already being downloaded"):
        fetch()
    first.cancel()
    thread.join(10)
    assert not thread.is_alive()
