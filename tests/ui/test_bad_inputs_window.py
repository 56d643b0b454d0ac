"""The catalogue of bad and odd inputs (tests/data/bad) through the window: a clear message, no
traceback, nothing already in the conversation lost, and the next message still answered
(issue 18, the whole surface)."""

from __future__ import annotations

import shutil

import pytest

from desktop_assistant.core.settings import Settings
from desktop_assistant.ui.main_window import MainWindow
from desktop_assistant.ui.workers.chat import ChatThread, engine_factory_for
from desktop_assistant.ui.workers.speech import Microphone, SpeechThread
from tests.fakes import FakeChatEngine, FakeSpeechEngine
from tests.test_bad_inputs_cli import BAD, CATALOGUE, model_path, prompt_text
from tests.ui.helpers import wait_ready


class _Vision(FakeChatEngine):
    reads_images = True

    def estimate_image_seconds(self, sizes, high_detail):
        return 0.1


def _said(window):
    """The user's messages and the answers (notes about the context left out)."""
    return [m for m in window.view.messages() if m.role in ("user", "assistant")]


def _ask_and_get_answer(qtbot, window, text="Still there?"):
    before = len(_said(window))
    with qtbot.waitSignal(window.reply_finished, timeout=20_000):
        window.send(text)
    said = _said(window)
    assert len(said) == before + 2 and said[-1].role == "assistant", [m.role for m in said]


def _notes(window) -> str:
    return "\n".join(m.text for m in window.view.messages() if m.role in ("notice", "error"))


def _no_traceback(window) -> None:
    shown = _notes(window) + window.statusBar().currentMessage() + window.state_label.text()
    assert "Traceback" not in shown and "Something went wrong inside" not in shown


@pytest.fixture
def chatted(qtbot, make_window):
    """A window with a fake vision model and one exchange already in the conversation."""

    def make(engine=None):
        window, engine = make_window(engine or _Vision(tokens=["Fine."]))
        wait_ready(qtbot, window)
        _ask_and_get_answer(qtbot, window, "First question")
        return window, engine

    return make


@pytest.mark.parametrize("name", sorted(CATALOGUE["pictures"]))
def test_pictures(qtbot, chatted, name):
    window, engine = chatted()
    window.intake.take_files([BAD / "pictures" / name])
    tray = window.composer.tray
    if CATALOGUE["pictures"][name] == "read":
        qtbot.waitUntil(lambda: len(tray.images()) == 1, timeout=10_000)
        _ask_and_get_answer(qtbot, window, "What is it?")
        assert engine.calls[-1][-1].images
    else:
        qtbot.waitUntil(lambda: name in _notes(window), timeout=10_000)
        assert tray.images() == []
        _ask_and_get_answer(qtbot, window)
    assert window.view.messages()[0].text == "First question"  # nothing lost
    _no_traceback(window)


@pytest.fixture
def voiced(qtbot, tmp_path):
    made = []

    def make():
        settings = Settings(tmp_path / "settings.json")
        settings.set("stt_model_path", "/models/fake-whisper")
        speech = FakeSpeechEngine(["heard words"] * 3)

        def no_microphone():
            raise OSError("no microphone in this test")

        chat = FakeChatEngine(tokens=["Fine."])
        window = MainWindow(
            settings,
            ChatThread(lambda path: chat),
            "/models/fake-model",
            voice=(SpeechThread(lambda path: speech), Microphone(no_microphone, settings)),
            tts_engine="mock",
        )
        qtbot.addWidget(window)
        window.show()
        window.start()
        window.voice.start()
        qtbot.waitUntil(lambda: window.voice.button.isEnabled(), timeout=20_000)
        wait_ready(qtbot, window)
        made.append(window)
        return window, speech

    yield make
    for window in made:
        window.close()


@pytest.mark.parametrize("name", sorted(CATALOGUE["audio"]))
def test_audio(qtbot, voiced, name):
    window, speech = voiced()
    window.composer.edit.setPlainText("typed before")
    window.intake.take_files([BAD / "audio" / name])
    if CATALOGUE["audio"][name] == "read":
        qtbot.waitUntil(lambda: "heard words" in window.composer.text(), timeout=20_000)
        assert window.composer.text() == "typed before heard words"
    else:  # said by the speech worker, or by the window when the bytes are not audio at all
        qtbot.waitUntil(lambda: name in _notes(window), timeout=20_000)
        assert window.composer.text() == "typed before" and speech.heard == []
    _ask_and_get_answer(qtbot, window)
    _no_traceback(window)


@pytest.mark.parametrize("name", sorted(CATALOGUE["prompts"]))
def test_prompts(qtbot, make_window, tmp_path, tiny_chat_dir, name):
    settings = Settings(tmp_path / "engine-settings.json")
    settings.set("max_new_tokens", 4)
    window, _ = make_window(factory=engine_factory_for(settings), model_path=str(tiny_chat_dir))
    wait_ready(qtbot, window)
    text = prompt_text(name)
    expected = CATALOGUE["prompts"][name]
    if expected == "answer":
        _ask_and_get_answer(qtbot, window, text)
        assert _said(window)[-2].text == text  # shown as typed
    elif expected == "refuse":
        window.send(text)
        qtbot.waitUntil(lambda: "too long" in _notes(window), timeout=60_000)
        _ask_and_get_answer(qtbot, window)
    else:  # nothing to send
        window.send(text)
        assert _said(window) == []
        _ask_and_get_answer(qtbot, window)
    _no_traceback(window)


@pytest.mark.parametrize("name", sorted(CATALOGUE["models"]))
def test_models(qtbot, make_window, tmp_path, tiny_chat_dir, name):
    factory = engine_factory_for(Settings(tmp_path / "engine-settings.json"))
    window, _ = make_window(factory=factory, model_path=str(tiny_chat_dir))
    wait_ready(qtbot, window)
    _ask_and_get_answer(qtbot, window, "First question")
    window.load_model(str(model_path(name)))
    qtbot.waitUntil(lambda: window.state == "no-model", timeout=60_000)
    assert window.view.messages()[-1].role == "error" and name in window.view.messages()[-1].text
    assert _said(window)[0].text == "First question"
    window.load_model(str(tiny_chat_dir))
    wait_ready(qtbot, window)
    _ask_and_get_answer(qtbot, window)
    _no_traceback(window)


@pytest.mark.parametrize("name", sorted(CATALOGUE["histories"]))
def test_histories(qtbot, make_window, tmp_path, name):
    db = tmp_path / "history.sqlite3"
    shutil.copy(BAD / "histories" / name, db)
    window, _ = make_window(FakeChatEngine(tokens=["Fine."]), history=db)
    wait_ready(qtbot, window)
    expected = CATALOGUE["histories"][name]
    words = "was damaged" if expected == "set aside" else "will not be saved"
    qtbot.waitUntil(lambda: words in _notes(window) + window.state_label.text(), timeout=10_000)
    _ask_and_get_answer(qtbot, window)
    _no_traceback(window)
