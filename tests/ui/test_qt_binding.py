"""Guards against a broken Qt binding: PySide6 6.12.0 lost a reference to True on every
Signal.emit() under Python 3.11, and the app aborted after a few hundred streamed chunks."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal


class _Emitter(QObject):
    chunk = Signal(int, str)


def test_emitting_signals_keeps_reference_counts(qapp):
    emitter = _Emitter()
    received = []
    emitter.chunk.connect(lambda i, text: received.append(i))
    before = sys.getrefcount(True)
    for i in range(2000):
        emitter.chunk.emit(i, "x")
    assert len(received) == 2000
    assert sys.getrefcount(True) >= before - 10
