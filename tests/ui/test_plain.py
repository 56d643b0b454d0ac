"""Titles, names and errors are shown as text, never taken for HTML (issue 18, 12)."""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import Qt as GuiQt
from PySide6.QtGui import QTextDocument

from desktop_assistant.core.conversation import Conversation
from desktop_assistant.ui.plain import tip

SNEAKY = [
    "<img src=/dev/zero>",
    '<a href="file:///etc/passwd">x</a> & <b>bold</b>',
    "<qt><h1>big</h1></qt>",
    "plain words",
]


def _shown(rich: str) -> str:
    """What Qt shows for a tooltip: rich text when it looks like it."""
    if not GuiQt.mightBeRichText(rich):
        return rich
    document = QTextDocument()
    document.setHtml(rich)
    return document.toPlainText()


@pytest.mark.parametrize("text", SNEAKY)
def test_a_tooltip_shows_its_text_as_it_is(qapp, text):
    assert _shown(tip(text)) == text
    assert "<img" not in tip(text) and "<a " not in tip(text)


def test_sidebar_titles_are_text(qapp):
    from desktop_assistant.ui.sidebar import ConversationListModel

    model = ConversationListModel()
    now = time.time()
    model.set_conversations([Conversation(1, SNEAKY[0], created_at=now, updated_at=now)], now)
    index = model.index(model.row_of(1), 0)
    assert _shown(model.data(index, Qt.ItemDataRole.ToolTipRole)) == SNEAKY[0]


def test_problems_in_the_status_bar_are_text(qtbot, make_window):
    window, _ = make_window()
    window.show_problem(SNEAKY[1])
    label = window.state_label
    assert label.textFormat() == Qt.TextFormat.PlainText
    assert SNEAKY[1] in label.text()
    assert _shown(label.toolTip()) == SNEAKY[1]
    window.load_model("/models/<img src=x>")
    assert window.model_label.textFormat() == Qt.TextFormat.PlainText


def test_picture_names_in_the_tray_are_text(qtbot, make_window, tmp_path):
    from PIL import Image

    window, _ = make_window()
    name = tmp_path / "<img src=x>.png"
    Image.new("RGB", (20, 20), (1, 2, 3)).save(name)
    window.composer.tray.add_files([name])
    qtbot.waitUntil(lambda: len(window.composer.tray.images()) == 1, timeout=5_000)
    from PySide6.QtWidgets import QWidget

    tips = [w.toolTip() for w in window.composer.tray.findChildren(QWidget)]
    tips = [t for t in tips if t]
    assert tips and all("<img" not in t for t in tips)
    assert any(_shown(t).startswith("Remove <img src=x>.png") for t in tips)
