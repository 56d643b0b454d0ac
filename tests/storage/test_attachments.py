"""The content-addressed attachment store: naming, idempotence, atomic writes, clean-up."""

from __future__ import annotations

import hashlib
import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from desktop_assistant.core import paths
from desktop_assistant.storage.attachments import AttachmentStore, StoredFile

DATA = b"\x89PNG\r\n\x1a\n not really a picture, the store does not care"
SHA = hashlib.sha256(DATA).hexdigest()


@pytest.fixture
def store(tmp_path) -> AttachmentStore:
    return AttachmentStore(tmp_path / "attachments")


def files_under(folder) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def age(path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_default_root_is_in_the_data_folder(isolated_home):
    store = AttachmentStore()
    assert store.root == paths.attachments_dir() == isolated_home / "data" / "attachments"
    assert store.put(DATA, ".png").path.is_file()


def test_put_bytes_names_the_file_by_its_digest(store):
    stored = store.put(DATA, ".png")
    assert stored == StoredFile(SHA, ".png", store.root / SHA[:2] / f"{SHA}.png", len(DATA))
    assert stored.path.read_bytes() == DATA
    assert files_under(store.root) == [f"{SHA[:2]}/{SHA}.png"]  # no temp file left behind


def test_put_file_is_streamed_and_equal_to_put_bytes(store, tmp_path):
    big = os.urandom(3 * (1 << 20) + 123)  # several read chunks
    source = tmp_path / "holiday.heic"
    source.write_bytes(big)
    stored = store.put(source, "HEIC")
    digest = hashlib.sha256(big).hexdigest()
    assert (stored.sha256, stored.suffix, stored.size) == (digest, ".heic", len(big))
    assert stored.path.read_bytes() == big
    assert store.put(big, ".heic") == stored
    assert len(files_under(store.root)) == 1


def test_put_is_idempotent(store):
    first = store.put(DATA, ".png")
    inode = first.path.stat().st_ino
    assert store.put(DATA, ".png") == first
    assert first.path.stat().st_ino == inode  # not rewritten
    assert len(files_under(store.root)) == 1


def test_same_content_under_another_suffix_is_stored_once(store):
    first = store.put(DATA, ".png")
    again = store.put(DATA, ".jpg")
    assert again == first  # record again.suffix: it is ".png"
    assert len(files_under(store.root)) == 1


def test_find_exists_and_path_for(store):
    assert store.find(SHA) is None and not store.exists(SHA)
    stored = store.put(DATA, "png")
    assert store.find(SHA) == stored and store.exists(SHA.upper())
    assert store.path_for(SHA, ".png") == stored.path
    assert store.path_for(SHA) == store.root / SHA[:2] / SHA


@pytest.mark.parametrize("bad", ["../../etc/passwd", "abc", SHA[:-1] + "g", SHA + "0"])
def test_digests_that_are_not_digests_are_refused(store, bad):
    with pytest.raises(ValueError, match="SHA-256"):
        store.path_for(bad)
    with pytest.raises(ValueError):
        store.find(bad)


@pytest.mark.parametrize("bad", ["/x", "../png", ".p/g", ".toolongsuffix", ". png", ".."])
def test_suffixes_that_could_escape_are_refused(store, bad):
    with pytest.raises(ValueError, match="suffix"):
        store.put(DATA, bad)
    assert not store.root.exists() or files_under(store.root) == []


def test_no_suffix(store):
    stored = store.put(DATA, "")
    assert stored.path.name == SHA and stored.suffix == ""


def test_a_failed_write_leaves_nothing(store, monkeypatch):
    def no_room(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", no_room)
    with pytest.raises(OSError, match="No space"):
        store.put(DATA, ".png")
    assert files_under(store.root) == []
    assert not store.exists(SHA)


def test_a_missing_source_file_leaves_nothing(store, tmp_path):
    with pytest.raises(FileNotFoundError):
        store.put(tmp_path / "gone.png", ".png")
    assert files_under(store.root) == []


def test_a_damaged_copy_is_rewritten_under_its_name(store):
    stored = store.put(DATA, ".png")
    stored.path.write_bytes(DATA[:10])  # cut short by something outside the store
    again = store.put(DATA, ".jpg")
    assert again == stored
    assert stored.path.read_bytes() == DATA
    assert len(files_under(store.root)) == 1


def test_remove_unreferenced(store):
    kept = store.put(DATA, ".png")
    gone = store.put(b"another picture", ".jpg")
    alone = store.put(b"a third, alone in its folder", ".gif")
    for stored in (kept, gone, alone):
        age(stored.path, 7200)

    assert store.remove_unreferenced({kept.sha256}) == 2
    assert store.exists(kept.sha256)
    assert not store.exists(gone.sha256) and not store.exists(alone.sha256)
    if alone.path.parent != kept.path.parent:
        assert not alone.path.parent.exists()  # empty folders go too
    assert store.remove_unreferenced({kept.sha256}) == 0


def test_recent_files_survive_collection(store):
    """A picture is stored before its message is saved: it must not vanish in between."""
    young = store.put(DATA, ".png")
    assert store.remove_unreferenced(set()) == 0
    assert store.exists(young.sha256)
    assert store.remove_unreferenced(set(), grace_s=0) == 1
    assert not store.exists(young.sha256)


def test_storing_again_renews_an_old_file(store):
    old = store.put(DATA, ".png")
    age(old.path, 7200)
    store.put(DATA, ".png")  # attached again to a message not saved yet
    assert store.remove_unreferenced(set()) == 0
    assert store.exists(SHA)


def test_leftover_temp_files_are_collected(store):
    store.put(DATA, ".png")
    stale = store.root / ".incoming-crashed"
    fresh = store.root / ".incoming-writing"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"half")
    age(stale, 7200)
    store.remove_unreferenced({SHA})
    assert not stale.exists() and fresh.exists()
    assert store.exists(SHA)


def test_collecting_an_empty_or_missing_store(tmp_path):
    assert AttachmentStore(tmp_path / "never-made").remove_unreferenced(set(), grace_s=0) == 0


def test_many_threads_storing_the_same_and_different_files(store):
    blobs = [DATA, b"two", b"three"] * 8
    with ThreadPoolExecutor(max_workers=8) as pool:
        stored = list(pool.map(lambda b: store.put(b, ".bin"), blobs))
    for blob, result in zip(blobs, stored, strict=True):
        assert result.path.read_bytes() == blob
    assert len(files_under(store.root)) == 3
