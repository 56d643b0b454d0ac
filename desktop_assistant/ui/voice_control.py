"""The voice loop in the window: the microphone button, what is heard, and answers read aloud.

Click the button to start and again to stop, or hold it (or Space outside the prompt box) to
talk; Esc cancels. While recording: a level meter and the time. Partial transcripts appear in
the prompt box about once a second and the final one replaces them. A whole-utterance command
("new chat") is carried out; anything else is dictation, left in the box to send (sent at once
in hands-free mode, which listens again after the answer has been read aloud).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent, QMouseEvent
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QTextEdit,
    QWidget,
)

from desktop_assistant.core.errors import UserError
from desktop_assistant.core.settings import Settings
from desktop_assistant.ui.composer import Composer
from desktop_assistant.ui.icons import set_button_icon
from desktop_assistant.ui.message_list import MessageList
from desktop_assistant.ui.plain import faint, plain_label, tip
from desktop_assistant.ui.read_aloud import ReadAloud
from desktop_assistant.ui.spoken_text import SpokenText
from desktop_assistant.ui.status_line import StatusLine
from desktop_assistant.ui.voice_commands import VoiceCommands
from desktop_assistant.ui.workers.speech import Microphone, SpeechThread

if TYPE_CHECKING:
    from desktop_assistant.audio.capture import Recording
    from desktop_assistant.inference.speech import Transcript

log = logging.getLogger(__name__)

PARTIAL_EVERY_MS = 1000  # re-decode the growing recording this often
AHEAD_MAX_S = 6.0  # decode ahead at pauses while the recording is this short (commands)
HOLD_MS = 400  # a press longer than this is hold-to-talk: releasing stops
NO_SPEECH_MODEL = (
    "Voice input needs a speech model: choose a Whisper folder (for example whisper-base) in "
    "Settings → Speech model folder (or File → Models…)."
)


def _application() -> QApplication:
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        raise RuntimeError("the voice part needs the QApplication that runs the window")
    return app


class MicButton(QPushButton):
    """Click to start/stop; hold to talk. Signals: released_after(ms held)."""

    released_after = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Mic", parent)
        set_button_icon(self, "mic")
        self.setCheckable(False)
        self.setToolTip("Speak (click, or hold to talk; Space when the prompt is not focused)")
        self._down_at = 0

    # How long the button was held is read from the events' own times (when the user pressed
    # and let go), not from when these handlers ran: starting the microphone on press can take
    # longer than HOLD_MS on a slow or busy laptop, and a click would then count as a hold and
    # stop the recording as soon as it began.
    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt API)
        self._down_at = event.timestamp()
        super().mousePressEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt API)
        super().mouseReleaseEvent(event)
        self.released_after.emit(max(0, event.timestamp() - self._down_at))


class Voice(QObject):
    """Signals: heard(text) with each final transcript (commands included).

    Its parts: the speech thread and microphone (from `app.py`), the reader of answers and the
    spoken commands (built by the window), the composer it adds the button to, the message
    list (answers to read), the status line, `tell(text)` for a message to the user and
    `speech_path()` for the speech model to load.
    """

    heard = Signal(str)

    def __init__(
        self,
        settings: Settings,
        speech: SpeechThread,
        microphone: Microphone,
        read_aloud: ReadAloud,
        commands: VoiceCommands,
        composer: Composer,
        message_list: MessageList,
        status: StatusLine,
        tell: Callable[[str], object],
        speech_path: Callable[[], str],
    ) -> None:
        super().__init__(composer)
        self.settings, self.speech, self.microphone = settings, speech, microphone
        self.read_aloud, self.commands = read_aloud, commands
        self.composer, self.message_list, self.status_line = composer, message_list, status
        self.tell, self._speech_path = tell, speech_path
        commands.read_last_requested.connect(self.read_last_answer)
        self.model_name = ""
        self._request = 0
        self.spoken = SpokenText(composer.edit)  # the words dictated, beside typing
        self._file_request = 0  # a dropped audio file being transcribed
        self._file_name = ""
        self._file_done_s = 0.0  # ...and how far it has got
        # Decoding ahead: at a pause in speech the audio so far is transcribed; if the
        # recording then ends with no more speech, that text is used at once.
        self._ahead_request = 0
        self._ahead_speech_end: float | None = None
        self._ahead_result: Transcript | None = None
        self._waiting_for_ahead = False
        self._partial = QTimer(self)
        self._partial.setInterval(PARTIAL_EVERY_MS)
        self._partial.timeout.connect(self._ask_partial)
        self._build(composer)
        worker = speech.worker
        worker.loaded.connect(self._on_loaded)
        worker.load_failed.connect(self._on_load_failed)
        worker.partial.connect(self._on_partial)
        worker.transcribed.connect(self._on_transcribed)
        worker.failed.connect(self._on_failed)
        worker.progress.connect(self._on_progress)
        microphone.level.connect(self._on_level)
        microphone.elapsed.connect(self._on_elapsed)
        microphone.stopped.connect(self._on_stopped)
        microphone.paused.connect(self._on_paused)
        self.read_aloud.finished.connect(self._on_read_finished)
        self.read_aloud.opened.connect(self._on_read_aloud_opened)
        _application().installEventFilter(self)  # Space reaches the focused child
        # Which speech model is only looked up in start(), after the window is painted.
        self._set_unavailable("Voice input starts once the speech model is loaded.")

    def _build(self, composer: Composer) -> None:
        self.button = MicButton(composer)
        self.button.pressed.connect(self._on_pressed)
        self.button.released_after.connect(self._on_released)
        self._press_started = False  # this press began the recording
        composer.tools.insertWidget(1, self.button)
        self.meter = QProgressBar(composer)
        self.meter.setRange(-60, 0)
        self.meter.setTextVisible(False)
        self.meter.setFixedHeight(8)
        self.meter.setAccessibleName("Microphone level")
        self.clock = QLabel("0:00", composer)
        self.status = plain_label(QLabel(composer))
        faint(self.status)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Listening…"))
        row.addWidget(self.meter, 1)
        row.addWidget(self.clock)
        self.recording_row = QWidget(composer)
        self.recording_row.setLayout(row)
        self.recording_row.hide()
        composer.add_row_on_top(self.recording_row)
        composer.add_row_on_top(self.status)
        self.status.hide()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        """Space outside the prompt box: hold to talk."""
        kind = event.type()
        if kind not in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
            return False
        if not isinstance(event, QKeyEvent):
            return False
        if not isinstance(watched, QWidget) or watched.window() is not self.composer.window():
            return False
        if self._space_to_talk(event):
            if not event.isAutoRepeat():
                self.listen() if kind == QEvent.Type.KeyPress else self.stop()
            return True
        return False

    @staticmethod
    def _space_to_talk(event: QKeyEvent) -> bool:
        focus = QApplication.focusWidget()
        typing = (
            isinstance(focus, QLineEdit | QPlainTextEdit | QTextEdit)
            and not getattr(focus, "isReadOnly", lambda: False)()
        )
        return event.key() == Qt.Key.Key_Space and not typing

    def _model_path(self) -> str:
        return self._speech_path()

    # ---- the speech model ---------------------------------------------------------------------

    def start(self) -> None:
        """Load the speech model named in the settings (on its thread)."""
        path = self._model_path()
        if path:
            self._set_unavailable("Loading the speech model…")
            self.speech.load_requested.emit(path)
            # The system's voice is looked for once the speech model is in (`_on_loaded`,
            # `_on_load_failed`): Qt's speech module loading while torch.jit loaded silero-vad
            # on the speech thread deadlocked the suite twice, whichever thread imported it.
        else:
            self._set_unavailable(NO_SPEECH_MODEL)
            self.read_aloud.open()  # on its thread; `opened` follows
        self._on_read_aloud_opened()  # meanwhile the buttons say it is looking for a voice

    def _on_read_aloud_opened(self) -> None:
        self.message_list.can_speak = self.read_aloud.why_not
        self.message_list.refresh_actions()

    def _on_loaded(self, name: str, detector_model: Any) -> None:
        self.model_name = name
        self.microphone.detector_model = detector_model
        self.button.setEnabled(True)
        self.button.setToolTip(tip(f"Speak ({name}); click, or hold to talk"))
        self.read_aloud.open()

    def _on_load_failed(self, message: str) -> None:
        self._set_unavailable(f"Voice input is off: {message}")
        self.read_aloud.open()

    def _set_unavailable(self, why: str) -> None:
        self.button.setEnabled(False)
        self.button.setToolTip(tip(why))

    # ---- recording ----------------------------------------------------------------------------

    @property
    def recording(self) -> bool:
        return self.microphone.recording

    def toggle(self) -> None:
        if self.recording:
            self.stop()
        else:
            self.listen()

    def listen(self) -> None:
        if not self.button.isEnabled() or self.recording:
            return
        self.read_aloud.stop()  # the user starts speaking: stop talking over them
        try:
            self.microphone.start()
        except UserError as err:
            self._set_unavailable(str(err))
            self.tell(f"The microphone cannot be used: {err}")
            return
        self._request += 1
        self._ahead_request, self._ahead_result, self._waiting_for_ahead = 0, None, False
        self.spoken.begin()
        self.button.setText("Stop")
        set_button_icon(self.button, "stop")
        self.recording_row.show()
        self._partial.start()

    def stop(self) -> None:
        self.microphone.stop()

    def cancel(self) -> bool:
        """Esc: throw the recording away, or stop transcribing a file (its words so far go in
        the box). True when there was one of them."""
        if self._file_request and not self.recording:
            self.speech.worker.stop(self._file_request)
            self.status.setText(f"Stopping the transcription of {self._file_name}…")
            return True
        if not self.recording:
            return False
        self.microphone.cancel()
        self._partial.stop()
        self.spoken.remove()
        self._reset_button()
        return True

    def _on_pressed(self) -> None:
        self._press_started = not self.recording
        if self._press_started:
            self.listen()

    def _on_released(self, held_ms: int) -> None:
        """A click started it: it goes on until the next click or the end of speech.
        A hold started it: letting go stops it. A click while recording stops it."""
        if self.recording and (not self._press_started or held_ms >= HOLD_MS):
            self.stop()

    def _reset_button(self) -> None:
        self.button.setText("Mic")
        set_button_icon(self.button, "mic")
        self.recording_row.hide()

    def _on_level(self, dbfs: float) -> None:
        self.meter.setValue(int(max(-60.0, min(0.0, dbfs))))

    def _on_elapsed(self, seconds: float) -> None:
        self.clock.setText(f"{int(seconds) // 60}:{int(seconds) % 60:02d}")

    def _ask_partial(self) -> None:
        audio = self.microphone.audio()
        if audio is not None and len(audio) > 8000:
            self.speech.worker.want_partial(self._request)
            self.speech.partial_requested.emit(self._request, audio)

    def _on_partial(self, request: int, text: str) -> None:
        if request == self._request and self.recording and text:
            self.spoken.show(text)

    def _on_paused(self) -> None:
        audio = self.microphone.audio()
        if audio is None or not self.recording or len(audio) > AHEAD_MAX_S * 16_000:
            return
        speech = self.microphone.speech()
        if speech is None:
            return
        if self._ahead_request and self._ahead_result is None:
            self.speech.worker.cancel()  # the speaker went on: that decode is of no use now
        self._request += 1
        self._ahead_request = self._request
        self._ahead_speech_end = self.microphone.last_speech_s()
        self._ahead_result = None
        self.speech.transcribe_requested.emit(self._ahead_request, speech, True)

    def _ahead_still_good(self, recording: Recording) -> bool:
        """The recording ended by silence with no speech since the pause decoded ahead."""
        return (
            bool(self._ahead_request)
            and recording.stopped_by == "silence"
            and self.microphone.last_speech_s() == self._ahead_speech_end
        )

    def _on_stopped(self, recording: Recording) -> None:
        self._partial.stop()
        self._reset_button()
        if self._ahead_still_good(recording):
            if self._ahead_result is not None:
                self._finish(self._ahead_result)
            else:
                self._waiting_for_ahead = True  # its text arrives shortly
            return
        if recording.error is not None:
            self._set_unavailable(str(recording.error))
            self.tell(
                f"The microphone stopped: {recording.error}. What was recorded before "
                "is transcribed."
            )
        audio, trimmed = recording.speech, recording.speech is not None
        if audio is None and recording.error is not None and len(recording.audio):
            audio = recording.audio  # keep what was said before the device went
        if audio is None or not len(audio):
            self.status_line.flash("No speech heard", 4000)
            self.spoken.remove()
            return
        self.status.setText("Recognising…")
        self.status.show()
        self._request += 1
        self.speech.transcribe_requested.emit(self._request, audio, trimmed)

    # ---- results ------------------------------------------------------------------------------

    def _on_transcribed(self, request: int, transcript: Transcript) -> None:
        self.status.hide()
        learned = getattr(transcript, "remembered_language", "")
        if learned and learned != self.settings.get("stt_language_learned"):
            self.settings.set("stt_language_learned", learned)  # the next start's prior
        text = transcript.text.strip()
        if request == self._file_request:
            self._file_request = 0
            if text:
                SpokenText(self.composer.edit).show(text, final=True)
            if transcript.cancelled:
                kept = "; the words until then are in the prompt box" if text else ""
                where = f" after {self._file_done_s:.0f} s" if self._file_done_s else ""
                self.tell(f"Stopped transcribing {self._file_name}{where}{kept}.")
            return
        if request == self._ahead_request and request != 0:
            self._ahead_result = transcript
            if self._waiting_for_ahead:
                self._waiting_for_ahead = False
                self._finish(transcript)
            return
        if request != self._request:
            return
        self._finish(transcript)

    def _finish(self, transcript: Transcript) -> None:
        """A final transcript: a command to carry out, or words for the prompt box."""
        self.status.hide()
        self._ahead_request, self._ahead_result = 0, None
        text = transcript.text.strip()
        self.heard.emit(text)
        if not text:
            self.status_line.flash("No speech heard", 4000)
            self.spoken.remove()
            return
        from desktop_assistant.core.commands import understand  # its patterns: 28 ms

        heard = understand(text, snapped=bool(getattr(transcript, "snapped_from", "")))
        command = heard.command
        if command is not None and self.commands.takes(command):
            self.spoken.remove()
            if heard.ask:
                self.commands.ask(command)
            else:
                self.commands.run(command)
            return
        self.spoken.show(text, final=True)
        self.spoken.end()
        if self.settings.get("hands_free"):
            self._send_hands_free()

    def _send_hands_free(self) -> None:
        """Send what was said, unless an answer is still coming (the button is Stop then:
        clicking it would stop that answer); the words wait in the box."""
        composer = self.composer
        if composer.busy:
            self.status_line.flash(
                "Your words are in the box: send them when the answer has finished", 8000
            )
            return
        composer.submit()

    def _on_failed(self, request: int, message: str) -> None:
        self.status.hide()
        if request == self._file_request:
            self._file_request = 0  # the next dropped file may start
        elif request != self._request:
            return  # an earlier recording's, superseded
        self.tell(f"Speech recognition failed: {message}")

    def _on_progress(self, request: int, done: float, total: float) -> None:
        if request == self._file_request and total > 0:
            self._file_done_s = done
            self.status.setText(
                f"Transcribing {self._file_name}… {done:.0f} of {total:.0f} s (Esc stops)"
            )
            self.status.show()

    @property
    def transcribing_file(self) -> bool:
        return bool(self._file_request)

    def transcribe_file(self, path: Path) -> None:
        """A dropped audio file: its words go into the prompt box."""
        if not self.model_name:
            self.tell(f"{path.name} cannot be transcribed: {NO_SPEECH_MODEL}")
            return
        if self._file_request:
            self.tell(
                f"{path.name} waits: {self._file_name} is still being transcribed (Esc stops it)"
            )
            return
        self._request += 1
        self._file_request = self._request
        self._file_name, self._file_done_s = path.name, 0.0
        self.status.setText(f"Reading {path.name}… (Esc stops)")
        self.status.show()
        self.speech.transcribe_requested.emit(self._file_request, path, False)

    # ---- reading aloud ------------------------------------------------------------------------

    def read_last_answer(self) -> None:
        last = self.message_list.last_answer()
        if last is not None and last.text:
            self.speak(last.text)

    def speak(self, text: str) -> None:
        if not self.read_aloud.available:
            self.tell(self.read_aloud.why_not)
            return
        self.read_aloud.say(text)

    def follow_answer(self, text: str, done: bool) -> None:
        """A streaming answer: read each finished sentence when auto-read is on."""
        if self.settings.get("auto_read") and self.read_aloud.available:
            self.read_aloud.follow(text, done)

    def _on_read_finished(self) -> None:
        if self.settings.get("hands_free") and not self.recording:
            QTimer.singleShot(300, self.listen)

    def shutdown(self) -> None:
        _application().removeEventFilter(self)
        self.cancel()
        if not self.read_aloud.shutdown():
            log.warning("the read-aloud thread did not end in time")
        if not self.speech.shutdown():
            log.warning("the speech thread did not end in time")
