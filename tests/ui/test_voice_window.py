"""The voice loop in the window: mic button, VAD auto-stop, commands, dictation, read-aloud."""

from __future__ import annotations

import shutil
import time

import numpy as np
import pytest
from PySide6.QtCore import Qt

from desktop_assistant.audio.errors import AudioError
from desktop_assistant.audio.files import decode_file
from desktop_assistant.core.settings import Settings
from desktop_assistant.ui.main_window import MainWindow
from desktop_assistant.ui.read_aloud import OPENING
from desktop_assistant.ui.workers.chat import ChatThread
from desktop_assistant.ui.workers.speech import Microphone, SpeechThread
from tests.fakes import FakeChatEngine, FakeSpeechEngine
from tests.fakes_audio import SPEECH_DEV, FakeInputStream


@pytest.fixture
def voice_window(qtbot, tmp_path):
    """A window with a fake chat model, a fake Whisper and a fake microphone."""
    made = []

    def make(texts, stream=None, chat=None, settings=None, tts="mock", delays=(), voice=True):
        settings = settings or Settings(tmp_path / "settings.json")
        settings.set("stt_model_path", "/models/fake-whisper")
        settings.set("vad_silence_s", 0.5)
        engine = FakeSpeechEngine(texts, delays=delays)
        streams = []

        def new_stream():
            s = (
                stream()
                if callable(stream)
                else FakeInputStream(
                    SPEECH_DEV / "cmd01_new_chat.wav", speed=4.0, then_silence_s=2.0
                )
            )
            streams.append(s)
            return s

        speech = SpeechThread(lambda path: engine)
        microphone = Microphone(new_stream, settings)
        chat_engine = chat or FakeChatEngine(tokens=["Sure. ", "Here ", "it ", "is."])
        window = MainWindow(
            settings,
            ChatThread(lambda path: chat_engine),
            "/models/fake-model",
            voice=(speech, microphone),
            tts_engine=tts,
        )
        qtbot.addWidget(window)
        window.show()
        window.start()
        window.voice.start()
        qtbot.waitUntil(lambda: window.voice.button.isEnabled(), timeout=20_000)
        qtbot.waitUntil(lambda: window.state == "ready", timeout=10_000)
        if tts == "mock" and voice:  # Qt's test engine, whatever voice the machine has
            reader = window.voice.read_aloud
            qtbot.waitUntil(lambda: reader.why_not != OPENING, timeout=10_000)
            assert reader.available, reader.why_not
        made.append(window)
        return window, engine, chat_engine, streams

    yield make
    for window in made:
        window.close()
        assert window.voice.speech.qthread.isFinished()
        assert window.voice.read_aloud._thread.qthread.isFinished()


def _click_mic(qtbot, window):
    qtbot.mouseClick(window.voice.button, Qt.MouseButton.LeftButton)


def test_a_spoken_command_stops_by_itself_and_is_carried_out(qtbot, voice_window):
    window, speech, chat, _ = voice_window(["New chat."])
    with qtbot.waitSignal(window.reply_finished, timeout=10_000):
        window.send("hello")
    assert len(window.view.messages()) == 2
    levels = []
    window.voice.microphone.level.connect(levels.append)
    _click_mic(qtbot, window)
    assert window.voice.recording and window.voice.recording_row.isVisibleTo(window)
    with qtbot.waitSignal(window.voice.heard, timeout=20_000) as heard:
        pass  # voice activity detection ends the recording after the trailing silence
    assert heard.args == ["New chat."]
    assert not window.voice.recording and window.voice.button.text() == "Mic"
    assert window.view.messages() == []  # new chat
    assert "Voice command: New chat" in window.statusBar().currentMessage()
    assert levels and max(levels) > -30  # the meter saw speech
    # decoded once, ahead, at the pause after "new chat": its text is used when the
    # trailing silence ends the recording (no second decode after the end of speech); what
    # is decoded is the speech the microphone's detector found, not searched for again
    assert len(speech.heard) == 1 and 0.5 < speech.heard[0] / 16_000 < 2.0
    assert speech.trimmed == [True]


def test_a_click_is_a_click_however_long_the_microphone_takes_to_start(
    qtbot, voice_window, monkeypatch
):
    """Starting the microphone took over the hold threshold (a slow laptop, a first start):
    the click was taken for a hold and the recording stopped when the button came up."""
    import time

    window, _, _, _ = voice_window(["New chat."])
    start = window.voice.microphone.start

    def slow_start():
        time.sleep(0.6)
        start()

    monkeypatch.setattr(window.voice.microphone, "start", slow_start)
    _click_mic(qtbot, window)
    assert window.voice.recording
    with qtbot.waitSignal(window.voice.heard, timeout=20_000) as heard:
        pass
    assert heard.args == ["New chat."]


def test_a_decode_ahead_the_speaker_talked_over_is_cancelled(qtbot, voice_window):
    """A pause, more words, a pause: the first decode (slow here) is stopped at once instead of
    delaying the one that counts."""
    two_parts = np.concatenate(  # "scroll down" (voiced until 1.10 s), a pause, "stop"
        [
            decode_file(SPEECH_DEV / "cmd12_scroll_down.wav")[: int(1.12 * 16_000)],
            np.zeros(int(0.2 * 16_000), np.float32),  # heard as a pause, not as the end (0.5 s)
            decode_file(SPEECH_DEV / "cmd02_stop.wav")[int(0.3 * 16_000) :],
        ]
    )
    stream = lambda: FakeInputStream(audio=two_parts, speed=4.0, then_silence_s=2.0)  # noqa: E731
    window, speech, _, _ = voice_window(["Scroll down, stop."], stream=stream, delays=[30.0])
    _click_mic(qtbot, window)
    with qtbot.waitSignal(window.voice.heard, timeout=20_000) as heard:
        pass
    assert heard.args == ["Scroll down, stop."]
    assert speech.cancels >= 1 and len(speech.heard) == 2  # the first was cut short
    assert speech.heard[0] < speech.heard[1] and speech.trimmed == [True, True]


def test_dictation_goes_into_the_prompt_box_and_hands_free_sends_it(qtbot, voice_window):
    window, _, chat, _ = voice_window(["What is the capital of France?"])
    window.composer.edit.setPlainText("Question:")
    _click_mic(qtbot, window)
    with qtbot.waitSignal(window.voice.heard, timeout=20_000):
        pass
    assert window.composer.text() == "Question: What is the capital of France?"
    assert chat.calls == []  # not sent: the user reviews it, then Enter or "send"

    window.composer.edit.clear()
    window.settings.set("hands_free", True)
    window.voice.speech.worker._engine.texts = ["Tell me a joke"]
    with qtbot.waitSignal(window.reply_finished, timeout=20_000):
        _click_mic(qtbot, window)
    assert chat.calls[-1][-1].content == "Tell me a joke"


def test_typing_while_dictating_is_kept(qtbot, voice_window):
    """Issue 18, 10: the transcript used to replace the whole box, typing included."""
    slow = lambda: FakeInputStream(SPEECH_DEV / "dict01_self_attention.wav", speed=1.0)  # noqa: E731
    said = "Explain self attention"
    window, _, _, _ = voice_window([said, said], stream=slow)  # a decode ahead at a pause, too
    window.composer.edit.setPlainText("Before:")
    _click_mic(qtbot, window)
    qtbot.waitUntil(lambda: window.composer.text() != "Before:", timeout=10_000)  # a partial
    window.composer.edit.setFocus()  # typing, not holding Space to talk
    window.composer.edit.moveCursor(window.composer.edit.textCursor().MoveOperation.End)
    qtbot.keyClicks(window.composer.edit, " typed meanwhile")
    with qtbot.waitSignal(window.voice.heard, timeout=20_000):
        pass
    assert window.composer.text() == "Before: Explain self attention typed meanwhile"


def test_hands_free_never_presses_stop_on_a_streaming_answer(qtbot, voice_window):
    """Issue 18, 10: hands-free sent the words with a click on the Send button, which is Stop
    while an answer streams."""
    chat = FakeChatEngine(tokens=[f"word{i} " for i in range(40)], delay_s=0.1)
    window, _, _, _ = voice_window(["And in French?"], chat=chat)
    window.send("Say hello")
    qtbot.waitUntil(lambda: window.composer.busy, timeout=5_000)
    window.settings.set("hands_free", True)
    _click_mic(qtbot, window)
    with qtbot.waitSignal(window.voice.heard, timeout=20_000):
        pass
    assert window.composer.busy  # the answer goes on
    assert window.composer.text() == "And in French?"
    assert "send them when the answer has finished" in window.statusBar().currentMessage()
    with qtbot.waitSignal(window.reply_finished, timeout=20_000):
        pass
    assert window.messages[-1].content.count("word") == 40  # not stopped


def test_escape_cancels_a_recording_and_keeps_the_draft(qtbot, voice_window):
    slow = lambda: FakeInputStream(SPEECH_DEV / "dict01_self_attention.wav", speed=1.0)  # noqa: E731
    window, speech, _, _ = voice_window(["never used"], stream=slow)
    window.composer.edit.setPlainText("my draft")
    _click_mic(qtbot, window)
    assert window.voice.recording
    qtbot.keyClick(window.composer.edit, Qt.Key.Key_Escape)
    assert not window.voice.recording and window.composer.text() == "my draft"
    qtbot.wait(300)
    assert speech.heard == []


def test_no_microphone_says_so_and_disables_the_button(qtbot, voice_window):
    def no_device():
        raise AudioError("No microphone found. Connect one, then choose it in Settings.")

    window, _, _, _ = voice_window(["x"], stream=no_device)
    _click_mic(qtbot, window)
    assert not window.voice.button.isEnabled()
    assert "No microphone found" in window.voice.button.toolTip()
    assert "No microphone found" in window.view.messages()[-1].text


def test_a_device_that_fails_midway_keeps_what_was_said(qtbot, voice_window):
    failing = lambda: FakeInputStream(  # noqa: E731
        SPEECH_DEV / "dict01_self_attention.wav", speed=4.0, fail_after_s=3.0
    )
    window, speech, _, _ = voice_window(["Explain self attention"], stream=failing)
    _click_mic(qtbot, window)
    with qtbot.waitSignal(window.voice.heard, timeout=20_000):
        pass
    assert speech.heard and speech.heard[0] > 16_000  # what came before the failure
    assert window.composer.text() == "Explain self attention"
    assert any("microphone stopped" in w.text for w in window.view.messages())


def test_silence_alone_produces_nothing(qtbot, voice_window):
    quiet = lambda: FakeInputStream(SPEECH_DEV / "neg01_silence_3s.wav", speed=4.0)  # noqa: E731
    window, speech, chat, _ = voice_window(["should not be used"], stream=quiet)
    _click_mic(qtbot, window)
    qtbot.waitUntil(
        lambda: (
            window.voice.microphone.audio() is not None
            and len(window.voice.microphone.audio()) > 40_000
        ),
        timeout=10_000,
    )
    _click_mic(qtbot, window)  # the user gives up
    qtbot.waitUntil(lambda: "No speech heard" in window.statusBar().currentMessage())
    assert speech.heard == [] and window.composer.text() == "" and chat.calls == []


def test_delete_conversation_by_voice_asks_first(qtbot, voice_window):
    window, _, _, _ = voice_window(["Delete this conversation.", "yes"])
    window.voice.commands.run  # noqa: B018
    from desktop_assistant.core.commands import parse_command

    with qtbot.waitSignal(window.reply_finished, timeout=10_000):
        window.send("hello")
    window.voice.commands.run(parse_command("delete this conversation"))
    assert window.voice.commands.pending is not None and len(window.view.messages()) == 2
    window.voice.commands.run(parse_command("no"))
    assert window.voice.commands.pending is None and len(window.view.messages()) == 2
    window.voice.commands.run(parse_command("delete this conversation"))
    window.voice.commands.run(parse_command("yes"))
    assert window.view.messages() == []


def test_theme_command_can_be_undone(qtbot, voice_window):
    from desktop_assistant.core.commands import parse_command

    window, _, _, _ = voice_window(["x"])
    try:
        window.voice.commands.run(parse_command("switch to dark mode"))
        assert window.settings.get("theme") == "dark"
        assert window.voice.commands.undo_button.isVisibleTo(window)
        window.voice.commands.undo_button.click()
        assert window.settings.get("theme") == "system"
    finally:
        window.settings.set("theme", "system")


def test_answers_are_read_aloud_and_escape_stops_reading(qtbot, voice_window):
    window, _, _, _ = voice_window(["x"])
    with qtbot.waitSignal(window.reply_finished, timeout=10_000):
        window.send("hello")
    answer = window.view.messages()[-1]
    speak = answer.buttons["speak"]
    assert not speak.isHidden() and speak.isEnabled()
    with qtbot.waitSignal(window.voice.read_aloud.started, timeout=5_000):
        speak.click()
    assert window.voice.read_aloud.speaking
    qtbot.keyClick(window.composer.edit, Qt.Key.Key_Escape)
    assert not window.voice.read_aloud.speaking


def test_auto_read_follows_the_stream_then_hands_free_listens_again(qtbot, voice_window):
    window, _, _, streams = voice_window(["x"])
    window.settings.set("auto_read", True)
    window.settings.set("hands_free", True)
    with qtbot.waitSignal(window.voice.read_aloud.finished, timeout=15_000):
        window.send("hello")
    qtbot.waitUntil(lambda: window.voice.recording, timeout=5_000)
    assert len(streams) == 1


def test_no_voice_on_the_system_explains_instead_of_failing(qtbot, voice_window):
    window, _, _, _ = voice_window(["x"], tts="no-such-engine")
    qtbot.waitUntil(lambda: window.voice.read_aloud.why_not != OPENING, timeout=10_000)
    with qtbot.waitSignal(window.reply_finished, timeout=10_000):
        window.send("hello")
    speak = window.view.messages()[-1].buttons["speak"]
    assert not speak.isEnabled() and "needs a system voice" in speak.toolTip()


def test_without_qt_speech_the_tooltip_names_what_to_install(qtbot, monkeypatch):
    """Qt's speech module does not load without libpulse.so.0: nothing fails, and the
    button's tooltip names the packages scripts/setup installs."""
    import builtins
    import re
    from pathlib import Path

    from desktop_assistant.ui.read_aloud import LINUX_PACKAGES, ReadAloud

    real_import = builtins.__import__

    def no_speech_module(name, *args, **kwargs):
        if name == "PySide6.QtTextToSpeech":
            raise ImportError("libpulse.so.0: cannot open shared object file")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_speech_module)
    reader = ReadAloud("mock")
    with qtbot.waitSignal(reader.opened, timeout=10_000):
        reader.open()
    assert not reader.available and "libpulse0" in reader.why_not
    reader.say("Nothing to say it with.")  # does nothing, raises nothing
    assert not reader.speaking and reader.shutdown()
    setup = (Path(__file__).parents[2] / "scripts" / "setup").read_text()
    apt_app = re.search(r"apt_app=\(([^)]*)\)", setup).group(1).split()
    assert set(LINUX_PACKAGES.split()) <= set(apt_app)


def test_a_slow_speech_engine_does_not_hold_the_window(qtbot, voice_window, monkeypatch):
    """speech-dispatcher takes 1.3-1.8 s to open (and hangs while stuck): it opens on the
    read-aloud thread while the window goes on; the Read aloud buttons follow when it is."""
    import time

    from PySide6 import QtTextToSpeech

    class SlowToOpen(QtTextToSpeech.QTextToSpeech):
        def __init__(self, *args):
            time.sleep(4)
            super().__init__(*args)

    monkeypatch.setattr(QtTextToSpeech, "QTextToSpeech", SlowToOpen)
    started = time.monotonic()
    window, _, _, _ = voice_window(["x"], voice=False)
    with qtbot.waitSignal(window.reply_finished, timeout=10_000):
        window.send("hello")
    speak = window.voice.read_aloud
    assert not speak.available  # still opening, and the window answered meanwhile
    assert time.monotonic() - started < 4
    button = window.view.messages()[-1].buttons["speak"]
    assert not button.isEnabled() and button.toolTip() == OPENING
    qtbot.waitUntil(lambda: speak.available, timeout=10_000)
    assert button.isEnabled()


def test_a_dropped_audio_file_is_transcribed_into_the_box(qtbot, voice_window, tmp_path):
    window, speech, _, _ = voice_window(["Plan three rice dinners"])
    named_wrongly = tmp_path / "notes.png"  # audio, whatever the name says
    shutil.copy(SPEECH_DEV / "dict02_rice_dinners.wav", named_wrongly)
    window.intake.take_files([named_wrongly])
    qtbot.waitUntil(lambda: window.composer.text() == "Plan three rice dinners", timeout=20_000)
    assert window.composer.tray.images() == [] and speech.heard[0] > 16_000 * 5


def test_esc_stops_a_file_transcription_and_keeps_what_was_typed(qtbot, voice_window, tmp_path):
    window, speech, _, _ = voice_window(["never heard"], delays=[60])
    window.composer.edit.setPlainText("my own words")
    talk = tmp_path / "talk.wav"
    shutil.copy(SPEECH_DEV / "dict02_rice_dinners.wav", talk)
    window.intake.take_files([talk])
    qtbot.waitUntil(lambda: bool(speech.heard), timeout=20_000)  # decoding, in the fake's wait
    assert "Esc stops" in window.voice.status.text()
    started = time.monotonic()
    qtbot.keyClick(window.composer.edit, Qt.Key.Key_Escape)
    qtbot.waitUntil(
        lambda: "Stopped transcribing talk.wav" in window.statusBar().currentMessage(),
        timeout=10_000,
    )
    assert time.monotonic() - started < 5 and speech.cancels >= 1
    assert window.composer.text() == "my own words"
    assert not window.voice.status.isVisible()
    window.intake.take_files([talk])  # the next file is taken again
    qtbot.waitUntil(lambda: window.composer.text().endswith("never heard"), timeout=20_000)


def test_a_second_file_waits_for_the_first(qtbot, voice_window, tmp_path):
    window, speech, _, _ = voice_window(["first file"], delays=[60])
    one, two = tmp_path / "one.wav", tmp_path / "two.wav"
    for path in (one, two):
        shutil.copy(SPEECH_DEV / "cmd01_new_chat.wav", path)
    window.intake.take_files([one])
    qtbot.waitUntil(lambda: bool(speech.heard), timeout=20_000)
    window.intake.take_files([two])
    assert "two.wav waits: one.wav is still being transcribed" in (
        window.statusBar().currentMessage()
    )
    window.escape()


def test_a_file_over_the_length_cap_is_refused_with_its_length(
    qtbot, voice_window, tmp_path, monkeypatch
):
    from desktop_assistant.audio import files

    monkeypatch.setattr(files, "MAX_FILE_S", 1)
    window, speech, _, _ = voice_window(["never heard"])
    talk = tmp_path / "talk.wav"
    shutil.copy(SPEECH_DEV / "dict02_rice_dinners.wav", talk)
    window.intake.take_files([talk])
    qtbot.waitUntil(
        lambda: "files of up to 0 min 1 s" in window.statusBar().currentMessage(), timeout=10_000
    )
    assert speech.heard == [] and window.composer.text() == ""


def test_a_stopped_request_is_not_read_at_all(qtbot, tmp_path):
    """Esc before the worker reached the file: nothing is decoded, the request ends
    cancelled."""
    from desktop_assistant.ui.workers.speech import SpeechWorker

    engine = FakeSpeechEngine(["never heard"])
    worker = SpeechWorker(lambda path: engine)
    worker.load("/models/fake-whisper")
    results = []
    worker.transcribed.connect(lambda request, transcript: results.append((request, transcript)))
    worker.stop(3)
    worker.transcribe(3, SPEECH_DEV / "cmd01_new_chat.wav", False)
    assert engine.heard == [] and results[0][0] == 3 and results[0][1].cancelled
    worker.transcribe(4, SPEECH_DEV / "cmd01_new_chat.wav", False)  # a later one runs
    assert results[1][1].text == "never heard"


def test_hold_space_outside_the_prompt_box_to_talk(qtbot, voice_window):
    slow = lambda: FakeInputStream(SPEECH_DEV / "dict01_self_attention.wav", speed=1.0)  # noqa: E731
    window, speech, _, _ = voice_window(["Explain self attention"], stream=slow)
    window.view.setFocus()
    qtbot.keyPress(window.view, Qt.Key.Key_Space)
    assert window.voice.recording
    qtbot.wait(600)
    with qtbot.waitSignal(window.voice.heard, timeout=20_000):
        qtbot.keyRelease(window.view, Qt.Key.Key_Space)
    assert window.composer.text() == "Explain self attention"
    window.composer.edit.setFocus()
    qtbot.keyClick(window.composer.edit, Qt.Key.Key_Space)  # typing a space is typing
    assert not window.voice.recording and window.composer.text().endswith(" ")


def test_hold_the_mic_button_to_talk(qtbot, voice_window):
    slow = lambda: FakeInputStream(SPEECH_DEV / "dict01_self_attention.wav", speed=1.0)  # noqa: E731
    window, _, _, _ = voice_window(["Explain self attention"], stream=slow)
    qtbot.mousePress(window.voice.button, Qt.MouseButton.LeftButton)
    assert window.voice.recording
    qtbot.wait(1500)  # speaking while holding
    # QTest's events carry made-up times: `delay` is how long the button was held in them
    with qtbot.waitSignal(window.voice.heard, timeout=20_000):
        qtbot.mouseRelease(window.voice.button, Qt.MouseButton.LeftButton, delay=1500)
        qtbot.waitUntil(lambda: not window.voice.recording, timeout=500)  # not at speech's end
    assert window.composer.text() == "Explain self attention"


@pytest.mark.parametrize("said", ["Yes.", "No, thanks."])
def test_yes_or_no_when_nothing_was_asked_are_words_for_the_assistant(qtbot, voice_window, said):
    window, _, _, _ = voice_window([said])
    _click_mic(qtbot, window)
    with qtbot.waitSignal(window.voice.heard, timeout=20_000):
        pass
    assert window.composer.text() == said
    assert "Voice command" not in window.statusBar().currentMessage()
    assert "confirm" not in window.statusBar().currentMessage()


def test_no_stops_an_answer_that_is_streaming(qtbot, voice_window):
    from desktop_assistant.core.commands import parse_command

    window, _, _, _ = voice_window(["x"])
    with qtbot.waitSignal(window.reply_finished, timeout=10_000):
        window.send("hello")
        assert window.voice.commands.takes(parse_command("no"))
        assert not window.voice.commands.takes(parse_command("yes"))
    assert not window.voice.commands.takes(parse_command("no"))


def test_the_language_learned_on_auto_is_kept_for_the_next_start(qtbot, voice_window):
    window, speech, _, _ = voice_window(["Hello there."])
    speech.remembered_language = "de"
    _click_mic(qtbot, window)
    with qtbot.waitSignal(window.voice.heard, timeout=20_000):
        pass
    assert window.settings.get("stt_language_learned") == "de"
    from desktop_assistant.inference.language import language_prior

    assert language_prior(window.settings) == "de"


def test_a_snapped_command_is_asked_about_first(qtbot, voice_window):
    """A command the speech engine guessed from near-miss words ("go to the next chat" from
    "the text into me") is asked about: "yes" or Yes carries it out, "no" drops it."""
    from desktop_assistant.core.commands import parse_command
    from desktop_assistant.inference.speech import Transcript

    window, _, _, _ = voice_window(["x"])
    commands = window.voice.commands
    guessed = Transcript("Zoom in.", "en", 1.5, 0.1, snapped_from="the zoom in me")
    size = window.font().pointSize()
    window.voice._finish(guessed)
    assert commands.pending == parse_command("zoom in")
    assert "Did you mean “Zoom in”?" in window.statusBar().currentMessage()
    assert commands.yes_button.isVisibleTo(window) and window.font().pointSize() == size
    window.voice._finish(Transcript("No.", "en", 0.5, 0.1))
    assert commands.pending is None and not commands.yes_button.isVisibleTo(window)
    assert window.composer.text() == ""  # neither the guess nor "no" is typed
    window.voice._finish(guessed)
    commands.yes_button.click()
    assert commands.pending is None
    assert "Voice command: Zoom in" in window.statusBar().currentMessage()
    commands.undo_button.click()  # zoom has an Undo
    window.voice._finish(Transcript("Zoom in.", "en", 1.5, 0.1))  # heard as such: done at once
    assert commands.pending is None
    assert "Voice command: Zoom in" in window.statusBar().currentMessage()
    commands.undo_button.click()


def test_a_new_speech_model_or_language_is_loaded_at_once(qtbot, voice_window):
    window, *_ = voice_window(["hello"])
    with qtbot.waitSignal(window.voice.speech.worker.loaded, timeout=10_000):
        window.settings.set("stt_language", "en")
    with qtbot.waitSignal(window.voice.speech.worker.loaded, timeout=10_000):
        window.setup.use("speech", "/models/other-whisper")
    qtbot.waitUntil(lambda: window.voice.button.isEnabled(), timeout=10_000)
