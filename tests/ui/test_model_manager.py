"""The model manager dialog over a fake hub on 127.0.0.1 and tiny local models."""

from __future__ import annotations

import pytest

from desktop_assistant.core.settings import Settings
from desktop_assistant.models import registry
from desktop_assistant.models.catalog import human_size, load_catalog
from desktop_assistant.ui.model_manager import ModelManagerDialog

SPEECH_ID = "openai/whisper-tiny"


@pytest.fixture
def fake_hub(serve_hub, tiny_whisper_dir):
    return serve_hub((SPEECH_ID, tiny_whisper_dir))


@pytest.fixture
def dialog(qtbot, tmp_path, fake_hub):
    settings = Settings(tmp_path / "settings.json")
    dialog = ModelManagerDialog(settings)
    qtbot.addWidget(dialog)
    dialog.show()
    yield dialog
    dialog.close()


def rows(dialog) -> dict[str, list[str]]:
    """Model id -> its row's texts."""
    out = {}
    for i in range(dialog.tree.topLevelItemCount()):
        parent = dialog.tree.topLevelItem(i)
        for j in range(parent.childCount()):
            item = parent.child(j)
            out[item.text(0)] = [item.text(c) for c in range(dialog.tree.columnCount())]
    return out


def test_lists_the_catalog_per_role_with_fit_and_no_network(dialog, fake_hub):
    shown = rows(dialog)
    assert set(shown) == {e.id for e in load_catalog().entries}
    assert dialog.tree.topLevelItemCount() == 3
    row = shown["openai/whisper-base"]
    assert row[1].startswith("Available") and "recommended" in row[1]
    assert any(v in row[3] for v in (registry.FITS, registry.TIGHT, registry.WONT_FIT))
    assert dialog.select("openai/whisper-base")
    item = dialog.tree.currentItem()
    assert "free" in item.toolTip(3) and "free" in item.toolTip(4)  # the whole, in a tooltip
    assert "RAM" in dialog.machine.text()
    assert "(gated)" in shown["meta-llama/Llama-3.2-1B-Instruct"][1]
    assert dialog.select("meta-llama/Llama-3.2-1B-Instruct")
    assert "accept" in dialog.details.text()
    assert fake_hub.requests == []  # nothing reached the network


def test_download_with_progress_becomes_the_default(dialog, qtbot, fake_hub):
    fake_hub.piece_delay = 0.005
    assert dialog.select(SPEECH_ID) and dialog.download_button.isEnabled()
    with qtbot.waitSignal(dialog.model_installed, timeout=30_000) as installed:
        dialog.download_button.click()
        assert not dialog.download_button.isEnabled() and dialog.cancel_button.isEnabled()
        assert dialog.progress.isVisible()
    model = installed.args[0]
    assert model.id == SPEECH_ID and model.role == "speech"
    assert dialog.settings.get("stt_model_path") == str(model.path)  # none before: now default
    assert rows(dialog)[SPEECH_ID][1] == "Installed, default"
    assert "installed" in dialog.status.text() and not dialog.progress.isVisible()


def test_cancel_a_download(dialog, qtbot, fake_hub):
    fake_hub.piece_delay = 0.05
    dialog.select(SPEECH_ID)
    seen = []

    def cancel_once_moving(progress):
        seen.append(progress)
        if progress.total and progress.done and not dialog.task.download.cancelled:
            dialog.cancel_button.click()

    task = dialog.start_download(SPEECH_ID, backoff=0.0)
    task.signals.progress.connect(cancel_once_moving)  # before any event is delivered
    qtbot.waitUntil(lambda: dialog.task is None, timeout=30_000)
    assert "cancelled" in dialog.status.text()
    assert registry.find_installed(SPEECH_ID) is None and dialog.download_button.isEnabled()
    assert any(p.done for p in seen)


def test_esc_closes_the_dialog_and_cancels_its_download(dialog, qtbot, fake_hub):
    """Issue 18, 16: Esc (reject) left the download running with nobody to see it."""
    from PySide6.QtCore import Qt

    fake_hub.piece_delay = 0.05
    dialog.select(SPEECH_ID)
    task = dialog.start_download(SPEECH_ID, backoff=0.0)
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert not dialog.isVisible()
    assert task.download.cancelled
    assert registry.find_installed(SPEECH_ID) is None


def test_import_set_default_and_remove(dialog, qtbot, tiny_chat_dir, monkeypatch):
    with qtbot.waitSignal(dialog.model_installed, timeout=30_000) as installed:
        dialog.import_path(str(tiny_chat_dir))
    model = installed.args[0]
    assert model.source == "import" and model.role == "chat" and tiny_chat_dir.is_dir()
    assert dialog.settings.get("model_path") == str(model.path)
    dialog.settings.set("model_path", "")
    dialog.refresh()
    assert dialog.select(model.id) and rows(dialog)[model.id][1] == "Installed"
    with qtbot.waitSignal(dialog.default_changed) as changed:
        dialog.default_button.click()
    assert changed.args == ["chat", str(model.path)]
    monkeypatch.setattr(dialog, "confirm", lambda question: True)
    with qtbot.waitSignal(dialog.model_removed) as removed:
        dialog.remove_button.click()
    assert removed.args == [model.id] and not model.path.exists()
    assert dialog.settings.get("model_path") == "" and "freed" in dialog.status.text()


def test_refused_import_says_why(dialog, qtbot, tmp_path):
    folder = tmp_path / "pickles"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "qwen2"}')
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x02")
    dialog.import_path(str(folder))
    qtbot.waitUntil(lambda: dialog.task is None, timeout=30_000)
    assert "pickle" in dialog.status.text()
    assert registry.list_installed() == []


def test_every_column_is_shown_whole(dialog, qtbot):
    qtbot.wait(50)
    assert dialog.tree.header().length() <= dialog.tree.viewport().width()


def test_a_model_opened_from_a_folder_is_shown_in_use(qtbot, tmp_path, fake_hub, tiny_chat_dir):
    settings = Settings(tmp_path / "settings.json")
    settings.set("model_path", str(tiny_chat_dir))  # File → Open model folder…, not installed
    dialog = ModelManagerDialog(settings)
    qtbot.addWidget(dialog)
    row = rows(dialog)[f"folder/{tiny_chat_dir.name}"]
    assert row[1] == "In use, from a folder" and row[4] == "on disk"
    assert dialog.select(f"folder/{tiny_chat_dir.name}")
    assert str(tiny_chat_dir) in dialog.details.text()
    assert not dialog.remove_button.isEnabled()  # not ours to delete


def test_a_gguf_file_opened_by_its_path_is_shown_in_use(qtbot, tmp_path, fake_hub, tiny_chat_dir):
    from tests.inference.test_models import write_tiny_gguf

    gguf = write_tiny_gguf(tiny_chat_dir, tmp_path / "tiny-q8.gguf")
    settings = Settings(tmp_path / "settings.json")
    settings.set("model_path", str(gguf))  # `--model FILE.gguf` or File → Open…, not imported
    dialog = ModelManagerDialog(settings)
    qtbot.addWidget(dialog)
    row = rows(dialog)["file/tiny-q8.gguf"]
    assert row[1] == "In use, from a file" and row[4] == "on disk"
    assert row[2] == human_size(gguf.stat().st_size)
    assert dialog.select("file/tiny-q8.gguf")
    assert str(gguf) in dialog.details.text() and "qwen2" in dialog.details.text()
    assert "opened as a file" in dialog.details.text()
    assert not dialog.remove_button.isEnabled()
    gguf.write_bytes(b"GGUF" + b"\0" * 20)  # damaged since: left out, no error
    dialog.refresh()
    assert "file/tiny-q8.gguf" not in rows(dialog)
