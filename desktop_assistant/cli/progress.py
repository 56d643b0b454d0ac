"""What a long step is doing, on a terminal: `ask` and `transcribe` converting or quantizing a
model for a minute or more would otherwise look hung.

Each step gets its own line, with a seconds counter while it runs. When stderr is not a
terminal (a pipe, a file, a script) nothing is written: stdout stays the answer alone and
stderr stays empty unless something went wrong.
"""

from __future__ import annotations

import sys
import threading
import time
from types import TracebackType
from typing import TextIO

TICK_S = 1.0


def _duration(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 60} min {whole % 60} s" if whole >= 60 else f"{seconds:.1f} s"


class TerminalProgress:
    """A `ProgressCallback` for engines' `load`, used as a context manager."""

    def __init__(self, stream: TextIO | None = None, tick_s: float = TICK_S) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.shown = bool(getattr(self.stream, "isatty", lambda: False)())
        self._tick_s = tick_s
        self._lock = threading.Lock()
        self._text = ""
        self._started = 0.0
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def __call__(self, text: str) -> None:
        if not self.shown:
            return
        with self._lock:
            self._end_line()
            self._text, self._started = text, time.monotonic()
            self._draw()
        if self._ticker is None:
            self._ticker = threading.Thread(target=self._tick, name="progress", daemon=True)
            self._ticker.start()

    def _draw(self) -> None:
        elapsed = time.monotonic() - self._started
        counter = f" {int(elapsed)} s" if elapsed >= 1 else ""
        self.stream.write(f"\r{self._text}{counter}\x1b[K")  # \x1b[K: clear the rest
        self.stream.flush()

    def _end_line(self) -> None:
        if self._text:
            took = time.monotonic() - self._started
            self.stream.write(f"\r{self._text} done in {_duration(took)}\x1b[K\n")
            self.stream.flush()
            self._text = ""

    def _tick(self) -> None:
        while not self._stop.wait(self._tick_s):
            with self._lock:
                if self._text:
                    self._draw()

    def close(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        with self._lock:
            self._end_line()

    def __enter__(self) -> TerminalProgress:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
