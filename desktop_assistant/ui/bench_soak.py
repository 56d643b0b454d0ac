"""`bench soak`: many turns in the real window; does anything pile up?

Turn after turn the window sends a question and waits for the answer, with a picture every
`PICTURE_EVERY` turns (when the model reads pictures), an audio file transcribed every
`AUDIO_EVERY` turns (when a speech model is given) and a new chat every `NEW_CHAT_EVERY`. The
process's resident memory, threads and open files are read after every turn; the figures
compare the end with the state after the warm-up (a tenth of the turns, at least 5): caches,
the first tensors and Qt's own allocations settle there. Everything is written to a temporary
data folder, never the user's history.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PICTURE_EVERY = 5
AUDIO_EVERY = 7
NEW_CHAT_EVERY = 20
QUESTIONS = (
    "What is a good name for a cat?",
    "Explain recursion in one sentence.",
    "List three fruits.",
    "What colour is the sky at noon?",
)


def _usage() -> dict[str, float]:
    import psutil

    process = psutil.Process()
    return {
        "rss_mb": process.memory_info().rss / 1e6,
        "threads": process.num_threads(),
        "open_files": process.num_fds()
        if hasattr(process, "num_fds")
        else len(process.open_files()),
    }


def soak(
    engine_factory: Callable[[str], Any],
    model: str,
    turns: int,
    picture: Path | None = None,
    speech_factory: Callable[[str], Any] | None = None,
    speech_model: str = "",
    audio: Path | None = None,
) -> dict[str, Any]:
    """Run `turns` turns in a real window (offscreen when there is no display)."""
    from desktop_assistant.core import paths

    with tempfile.TemporaryDirectory(prefix="desktop-assistant-soak-") as home:
        old = os.environ.get(paths.HOME_ENV)
        os.environ[paths.HOME_ENV] = home
        try:
            return _soak(engine_factory, model, turns, picture, speech_factory, speech_model, audio)
        finally:
            if old is None:
                os.environ.pop(paths.HOME_ENV, None)
            else:
                os.environ[paths.HOME_ENV] = old


def _soak(
    engine_factory: Callable[[str], Any],
    model: str,
    turns: int,
    picture: Path | None,
    speech_factory: Callable[[str], Any] | None,
    speech_model: str,
    audio: Path | None,
) -> dict[str, Any]:
    import gc

    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from desktop_assistant.core import paths
    from desktop_assistant.core.settings import Settings
    from desktop_assistant.ui.main_window import MainWindow
    from desktop_assistant.ui.workers.chat import ChatThread
    from desktop_assistant.ui.workers.history import HistoryThread
    from desktop_assistant.ui.workers.speech import Microphone, SpeechThread

    app = QApplication.instance() or QApplication([])
    settings = Settings()
    settings.set("max_new_tokens", 24)
    settings.set("temperature", 0.0)
    voice = None
    if speech_factory is not None and speech_model:
        settings.set("stt_model_path", speech_model)

        def no_microphone() -> Any:
            raise OSError("the soak benchmark records nothing")

        voice = (SpeechThread(speech_factory), Microphone(no_microphone, settings))
    history = HistoryThread(paths.history_file())
    window = MainWindow(settings, ChatThread(engine_factory), model, history, voice=voice)
    window.show()
    loop = QEventLoop()

    def wait_until(condition: Callable[[], bool], seconds: float = 600) -> None:
        deadline = time.monotonic() + seconds
        poll = QTimer()
        poll.timeout.connect(
            lambda: loop.quit() if condition() or time.monotonic() > deadline else None
        )
        poll.start(5)
        loop.exec()
        poll.stop()
        if not condition():
            raise RuntimeError("the window stopped making progress")

    window.start()
    if window.voice is not None:
        window.voice.start()
    wait_until(lambda: window.state in ("ready", "no-model"))
    if window.state != "ready":
        raise RuntimeError(f"the model did not load: {window.state_label.text()}")
    heard, conversations, tray = window.voice, window.conversations, window.composer.tray
    if conversations is None:
        raise RuntimeError("the window has no history")
    if heard is not None:
        wait_until(lambda: bool(heard.model_name) or not heard.button.isEnabled())
    finished: list[Any] = []
    window.reply_finished.connect(finished.append)

    def answered_after(count: int) -> Callable[[], bool]:
        return lambda: len(finished) > count

    warm_up = max(5, turns // 10)
    samples: list[dict[str, float]] = []
    pictures = audios = 0
    started = time.perf_counter()
    for turn in range(turns):
        if turn and turn % NEW_CHAT_EVERY == 0:
            conversations.new_chat()
        if (
            picture is not None
            and turn % PICTURE_EVERY == 0
            and window.intake.model_reads_images(quiet=True)
        ):
            window.composer.tray.add_files([picture])
            wait_until(lambda: not tray.busy and bool(tray.images()))
            pictures += 1
        if audio is not None and heard is not None and turn % AUDIO_EVERY == 0:
            window.composer.edit.clear()
            heard.transcribe_file(audio)
            wait_until(lambda: not heard.transcribing_file)
            audios += 1
        window.composer.edit.setPlainText(QUESTIONS[turn % len(QUESTIONS)])
        answered = answered_after(len(finished))
        window.composer.submit()
        wait_until(answered)
        app.processEvents()
        gc.collect()
        samples.append(_usage())
    seconds = time.perf_counter() - started
    window.close()
    base, end = samples[warm_up - 1], samples[-1]
    return {
        "turns": turns,
        "warm_up_turns": warm_up,
        "pictures": pictures,
        "audio_files": audios,
        "seconds": round(seconds, 1),
        "rss_after_warm_up_mb": round(base["rss_mb"], 1),
        "rss_end_mb": round(end["rss_mb"], 1),
        "rss_growth_pct": round(100 * (end["rss_mb"] - base["rss_mb"]) / base["rss_mb"], 2),
        "rss_max_mb": round(max(s["rss_mb"] for s in samples), 1),
        "threads_after_warm_up": int(base["threads"]),
        "threads_end": int(end["threads"]),
        "open_files_after_warm_up": int(base["open_files"]),
        "open_files_end": int(end["open_files"]),
    }


def bench_soak(args: Any) -> dict[str, Any]:
    """`bench soak`: the real engines the settings make, in the real window."""
    from desktop_assistant.core.errors import UserError
    from desktop_assistant.core.settings import Settings
    from desktop_assistant.ui.workers.chat import engine_factory_for
    from desktop_assistant.ui.workers.speech import speech_factory_for

    settings = Settings()
    if args.audio and not args.stt_model:
        raise UserError("--audio needs --stt-model (a Whisper folder)")
    return soak(
        engine_factory_for(settings),
        str(Path(args.bench_model).expanduser().resolve()),
        args.turns,
        Path(args.bench_image) if args.bench_image else None,
        speech_factory_for(settings) if args.stt_model else None,
        str(Path(args.stt_model).expanduser().resolve()) if args.stt_model else "",
        Path(args.audio) if args.audio else None,
    )
