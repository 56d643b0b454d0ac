"""The words being dictated, kept as one span of the prompt box beside what the user types.

While the microphone records, partial transcripts replace each other in the box, and the final
one replaces the last partial. The user may type at the same time (before, after or into the
spoken words). So the spoken words are a span, remembered with the text it holds and found again
by that text (the occurrence nearest to where it was: typing before it moves it): it is
replaced only while it still holds exactly that text, and everything around it, typed before
or during the recording, is left as it is (edited through a text cursor, so the user's own
cursor and undo history stay). When the user has typed into the span itself, partials stop and
the final transcript is added at the end instead: nothing the user typed is overwritten.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QPlainTextEdit


def _units(text: str) -> int:
    """Length in the UTF-16 code units Qt counts positions in (an emoji is two)."""
    return len(text.encode("utf-16-le")) // 2


@dataclass
class _Span:
    start: int  # where the separator (or the words, when none was needed) begins, in str indices
    separator: str
    words: str

    @property
    def shown(self) -> str:
        return self.separator + self.words


class SpokenText:
    """The dictated words in `edit`; `begin` at each recording, then `show`, then `end`."""

    def __init__(self, edit: QPlainTextEdit) -> None:
        self.edit = edit
        self._span: _Span | None = None

    def begin(self) -> None:
        self._span = None

    def show(self, words: str, final: bool = False) -> None:
        """Put `words` in the box in place of the ones shown before. A partial is skipped
        when the user has edited the span; a final one then goes at the end."""
        if self._intact():
            assert self._span is not None
            self._replace(self._span, self._span.separator + words)
            self._span.words = words
            return
        if self._span is not None and not final:
            return
        text = self.edit.toPlainText()
        separator = " " if text and not text[-1].isspace() else ""
        self._span = _Span(len(text), separator, words)
        self._replace(_Span(len(text), "", ""), separator + words)
        if final:
            self.edit.moveCursor(QTextCursor.MoveOperation.End)

    def remove(self) -> None:
        """Take the spoken words out again (a command, or nothing heard), if still intact."""
        if self._intact():
            assert self._span is not None
            self._replace(self._span, "")
        self._span = None

    def end(self) -> None:
        self._span = None

    def _intact(self) -> bool:
        """Whether the span still holds its words (its start updated to where they are)."""
        span = self._span
        if span is None:
            return False
        text, found, at = self.edit.toPlainText(), [], -1
        while (at := text.find(span.shown, at + 1)) != -1:
            found.append(at)
        if not span.shown or not found:
            return False
        span.start = min(found, key=lambda i: abs(i - span.start))
        return True

    def _replace(self, span: _Span, new: str) -> None:
        text = self.edit.toPlainText()
        start = _units(text[: span.start])
        cursor = QTextCursor(self.edit.document())
        cursor.setPosition(start)
        cursor.setPosition(start + _units(span.shown), QTextCursor.MoveMode.KeepAnchor)
        cursor.insertText(new)
