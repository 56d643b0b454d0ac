"""The first-run setup page: recommended downloads from a fake hub, or import with no network."""

from __future__ import annotations

import socket

import pytest

from desktop_assistant.core.settings import Settings
from desktop_assistant.models import registry
from desktop_assistant.models.catalog import load_catalog
from desktop_assistant.ui.first_run import FirstRunPage

VISION_ID = "HuggingFaceTB/SmolVLM2-500M-Video-Instruct"
SPEECH_ID = "openai/whisper-base"


@pytest.fixture
def fake_hub(serve_hub, tiny_vlm_dir, tiny_whisper_dir):
    return serve_hub((VISION_ID, tiny_vlm_dir), (SPEECH_ID, tiny_whisper_dir))


@pytest.fixture
def page(qtbot, tmp_path, fake_hub):
    settings = Settings(tmp_path / "settings.json")
    assert registry.needs_setup(settings)
    page = FirstRunPage(settings, backoff=0.0, timeout=5.0)
    qtbot.addWidget(page)
    page.show()
    yield page
    page.shutdown()


def test_recommends_a_vision_and_a_speech_model_with_total_size(page, fake_hub):
    catalog = load_catalog()
    assert page.chat_choice.currentData() == VISION_ID == catalog.defaults["vision"]
    assert page.speech_choice.currentData() == SPEECH_ID == catalog.defaults["speech"]
    assert [e.id for e in page.chosen()] == [VISION_ID, SPEECH_ID]
    total = sum(e.download_bytes for e in page.chosen())
    from desktop_assistant.models.catalog import human_size

    assert f"about {human_size(total)}" in page.total.text()
    page.speech_choice.setCurrentIndex(page.speech_choice.findData(""))  # no speech model
    assert [e.id for e in page.chosen()] == [VISION_ID]
    others = {page.chat_choice.itemData(i) for i in range(page.chat_choice.count())}
    assert "Qwen/Qwen2.5-1.5B-Instruct" in others and len(others) > 5
    assert fake_hub.requests == []  # showing the page does not touch the network


def test_download_the_recommended_set(page, qtbot, fake_hub):
    ready = []
    page.model_ready.connect(lambda role, path: ready.append((role, path)))
    with qtbot.waitSignal(page.setup_finished, timeout=60_000):
        page.download_button.click()
        assert page.cancel_button.isVisible() and not page.download_button.isEnabled()
    assert [role for role, _ in ready] == ["vision", "speech"]
    assert page.settings.get("model_path") == ready[0][1]
    assert page.settings.get("stt_model_path") == ready[1][1]
    assert {m.id for m in registry.list_installed()} == {VISION_ID, SPEECH_ID}
    assert not registry.needs_setup(page.settings)
    assert page.chosen() == [] and not page.offline.isVisible()


def test_no_network_says_so_and_offers_import(page, qtbot, monkeypatch, tiny_chat_dir):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    page.download_button.click()
    qtbot.waitUntil(page.offline.isVisible, timeout=30_000)
    # said once, with what to do; the error itself is in the box's tooltip
    assert page.status.text() == "" and "cannot reach" in page.offline.toolTip()
    assert page.import_folder_button.isEnabled() and page.import_gguf_button.isEnabled()
    assert page.download_button.isEnabled() and not page.start_button.isEnabled()
    with qtbot.waitSignal(page.model_ready, timeout=30_000) as ready:
        page.import_path(str(tiny_chat_dir))
    assert ready.args[0] == "chat" and page.settings.get("model_path") == ready.args[1]
    assert page.start_button.isEnabled() and not page.offline.isVisible()  # not stale
    with qtbot.waitSignal(page.setup_finished):
        page.start_button.click()


def test_cancel_stops_the_queue(page, qtbot, fake_hub):
    fake_hub.piece_delay = 0.05

    def cancel_when_moving(progress):
        if progress.total and progress.done:
            page.cancel_button.click()

    page.download()
    page.task.signals.progress.connect(cancel_when_moving)
    qtbot.waitUntil(lambda: page.task is None, timeout=30_000)
    assert "cancelled" in page.status.text() and page.queue == []
    assert registry.list_installed() == [] and page.download_button.isEnabled()
