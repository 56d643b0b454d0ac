#!/usr/bin/env python3
"""The README's screenshots, taken from the real window under a virtual display:

    xvfb-run -a -s "-screen 0 1280x800x24" .venv/bin/python scripts/take_screenshots.py \\
        --model CHAT_MODEL [--whisper WHISPER] [--vlm VLM --image PHOTO] [--out docs/screenshots]

chat.png and dark.png: the chat model answering (real weights, its real answer); models.png:
File → Models…; voice.png: the microphone recording a spoken question (a WAV file played as
the microphone, transcribed by the real Whisper model); picture.png: a picture attached and
read ahead, its question typed; documents.png: a 40-page PDF dropped into a chat and a
question answered from one of its pages, with its sources (fpdf2, the test extra, writes the
PDF). The app's data goes to a temporary folder, not yours.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
QUESTION = "Write a haiku about autumn, then a Python function that reverses a string."
SPOKEN = ROOT.parent / "shared" / "speech-dev"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a chat model folder")
    parser.add_argument("--whisper", help="a Whisper folder (voice.png)")
    parser.add_argument("--vlm", help="a vision model folder (picture.png)")
    parser.add_argument("--image", help="the picture for picture.png")
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    args = parser.parse_args()
    os.environ["DESKTOP_ASSISTANT_HOME"] = tempfile.mkdtemp(prefix="screenshots-")
    from desktop_assistant.core import offline

    offline.go_offline()
    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv[:1])
    app.setApplicationName("Desktop Assistant")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    chat(args.model, out)
    documents(args.model, out)
    models(out)
    if args.whisper:
        voice(args.model, args.whisper, out)
    if args.vlm and args.image:
        picture(args.vlm, Path(args.image), out)
    app.quit()
    return 0


def wait_until(condition, seconds: float = 300) -> None:
    from PySide6.QtWidgets import QApplication

    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError("the window did not get there in time")
        QApplication.processEvents()
        time.sleep(0.02)


def settle(seconds: float = 0.5) -> None:
    """Let the window paint and finish what it is doing for `seconds`."""
    from PySide6.QtWidgets import QApplication

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        QApplication.processEvents()
        time.sleep(0.02)


def window_for(model: str, voice=None, history: bool = True):
    from desktop_assistant.core import paths
    from desktop_assistant.core.settings import Settings
    from desktop_assistant.ui.main_window import MainWindow
    from desktop_assistant.ui.workers.chat import ChatThread, engine_factory_for
    from desktop_assistant.ui.workers.history import HistoryThread

    settings = Settings()
    settings.set("temperature", 0.0)
    thread = HistoryThread(paths.history_file()) if history else None
    window = MainWindow(settings, ChatThread(engine_factory_for(settings)), model, thread, voice)
    window.resize(1100, 720)
    window.show()
    window.start()
    wait_until(lambda: window.state == "ready")
    return window


def chat(model: str, out: Path) -> None:
    window = window_for(model)
    finished = []
    window.reply_finished.connect(finished.append)
    window.send(QUESTION)
    wait_until(lambda: bool(finished))
    settle()
    window.grab().save(str(out / "chat.png"))
    window.settings.set("theme", "dark")
    settle()
    window.grab().save(str(out / "dark.png"))
    window.settings.set("theme", "system")
    window.close()


FACT_PAGE = 17
FACT = "The night ferry to Skerry Island was moved from 21:40 to 22:15 in March."


def harbour_pdf(path: Path, pages: int = 40) -> Path:
    """A long PDF whose one fact (`FACT`) is on page `FACT_PAGE`."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=11)
    filler = (
        "Harbour board minutes: the committee reviewed moorings, dredging of the channel, "
        "repairs to the north pier and the lighthouse budget. "
    )
    for number in range(1, pages + 1):
        pdf.add_page()
        text = filler * 8
        if number == FACT_PAGE:
            text = filler * 3 + FACT + " " + filler * 3
        pdf.multi_cell(0, 6, f"Page {number}. {text}")
    pdf.output(str(path))
    return path


def documents(model: str, out: Path) -> None:
    window = window_for(model)
    pdf = harbour_pdf(Path(tempfile.mkdtemp(prefix="screenshots-pdf-")) / "harbour-board.pdf")
    window.intake.take_files([pdf])
    wait_until(lambda: bool(window.composer.documents.documents()), 60)
    finished = []
    window.reply_finished.connect(finished.append)
    window.send("When does the night ferry to Skerry Island leave now?")
    wait_until(lambda: bool(finished))
    settle()
    window.grab().save(str(out / "documents.png"))
    window.close()


def models(out: Path) -> None:
    from desktop_assistant.core.settings import Settings
    from desktop_assistant.ui.model_manager import ModelManagerDialog

    dialog = ModelManagerDialog(Settings())
    dialog.show()
    settle()
    dialog.grab().save(str(out / "models.png"))
    dialog.close()


def voice(model: str, whisper: str, out: Path) -> None:
    from desktop_assistant.core.settings import Settings
    from desktop_assistant.ui.workers.speech import Microphone, SpeechThread, speech_factory_for
    from tests.fakes_audio import FakeInputStream

    settings = Settings()
    settings.set("stt_model_path", whisper)
    wav = SPOKEN / "dict02_rice_dinners.wav"
    wav = wav if wav.exists() else next(SPOKEN.glob("*.wav"))
    stream = lambda: FakeInputStream(wav, speed=1.0, then_silence_s=3.0)  # noqa: E731
    speech = SpeechThread(speech_factory_for(settings))
    window = window_for(model, voice=(speech, Microphone(stream, settings)))
    window.voice.start()
    wait_until(lambda: window.voice.button.isEnabled())
    window.voice.listen()
    wait_until(lambda: bool(window.composer.text()), 60)  # the first partial text
    settle(0.3)
    window.grab().save(str(out / "voice.png"))
    window.voice.cancel()
    window.close()


def picture(vlm: str, image: Path, out: Path) -> None:
    window = window_for(vlm)
    window.composer.tray.add_files([image])
    wait_until(lambda: "ready for your question" in window.composer.tray.estimate.text(), 120)
    window.composer.edit.setPlainText("What is in this picture?")
    settle()
    window.grab().save(str(out / "picture.png"))
    window.close()


if __name__ == "__main__":
    raise SystemExit(main())
