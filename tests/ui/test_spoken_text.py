"""Dictated words beside typed ones: nothing typed is overwritten (issue 18, 10)."""

from __future__ import annotations

from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QPlainTextEdit

from desktop_assistant.ui.spoken_text import SpokenText


def _dictating(qtbot, draft: str = "") -> tuple[QPlainTextEdit, SpokenText]:
    """A prompt box holding `draft`, and a recording that has just begun in it."""
    edit = QPlainTextEdit()
    qtbot.addWidget(edit)
    edit.setPlainText(draft)
    spoken = SpokenText(edit)
    spoken.begin()
    return edit, spoken


def _type_at_end(edit: QPlainTextEdit, text: str) -> None:
    edit.moveCursor(QTextCursor.MoveOperation.End)
    edit.insertPlainText(text)


def test_partials_replace_each_other_after_the_draft(qtbot):
    edit, spoken = _dictating(qtbot, "Draft:")
    spoken.show("what")
    spoken.show("what is the")
    spoken.show("What is the time?", final=True)
    assert edit.toPlainText() == "Draft: What is the time?"


def test_typing_after_the_spoken_words_is_kept(qtbot):
    edit, spoken = _dictating(qtbot)
    spoken.show("plan a")
    _type_at_end(edit, " (typed 😀 meanwhile)")
    spoken.show("plan a trip")
    spoken.show("Plan a trip to Rome.", final=True)
    assert edit.toPlainText() == "Plan a trip to Rome. (typed 😀 meanwhile)"


def test_typing_before_them_with_wide_characters_is_kept(qtbot):
    edit, spoken = _dictating(qtbot, "🎉🎉")
    spoken.show("hello")
    cursor = edit.textCursor()
    cursor.setPosition(0)
    cursor.insertText("Ünïcode ")
    spoken.show("Hello there.", final=True)
    assert edit.toPlainText() == "Ünïcode 🎉🎉 Hello there."


def test_typing_into_the_spoken_words_stops_partials_and_the_final_goes_at_the_end(qtbot):
    edit, spoken = _dictating(qtbot)
    spoken.show("send the report")
    edit.setPlainText("send the final report")  # the user corrected the partial words
    spoken.show("send the report to")
    assert edit.toPlainText() == "send the final report"
    spoken.show("Send the report to Ann.", final=True)
    assert edit.toPlainText() == "send the final report Send the report to Ann."


def test_a_command_or_silence_takes_out_only_the_spoken_words(qtbot):
    edit, spoken = _dictating(qtbot, "keep me")
    spoken.show("new")
    _type_at_end(edit, " and me")
    spoken.remove()
    assert edit.toPlainText() == "keep me and me"
