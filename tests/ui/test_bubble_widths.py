"""Messages look finished at any window width (issue 20): nothing cut off on the right in a
narrow window (the buttons wrap, the figures are shortened with "…", long links and code
lines wrap), and a readable column in a wide one."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QRect

from desktop_assistant.ui.conversation_view import COLUMN_CHARS, MARGIN
from tests.fakes import FakeChatEngine

ANSWER = (
    "Here is the link: https://example.com/" + "averyverylongpathsegment" * 8 + "\n\n"
    "```python\nprint('" + "x" * 300 + "')\n```\n\n"
    "And a normal sentence after it, long enough to wrap in a narrow window."
)


@pytest.fixture
def chatted(qtbot, make_window, tmp_path):
    window, _ = make_window(FakeChatEngine(tokens=[ANSWER]), history=tmp_path / "h.sqlite3")
    qtbot.waitUntil(lambda: window.state == "ready", timeout=10_000)
    window.send("Please give me a long link " + "word " * 40)
    qtbot.waitUntil(lambda: window.state == "ready" and len(window.view.messages()) == 2)
    return window


def inside(widget, outer) -> QRect:
    return QRect(widget.mapTo(outer, QPoint(0, 0)), widget.size())


def problems(window) -> list[str]:
    view = window.view
    found = []
    contents, room = view.widget().width(), view.viewport().width()
    if contents > room:
        found.append(f"contents {contents} wider than the view {room}")
    for message in view.messages():
        box = QRect(QPoint(0, 0), message.size())
        shown = [b for b in [*message.buttons.values(), message.copy_button] if b.isVisible()]
        for button in shown:
            if not box.contains(inside(button, message)):
                found.append(f"{message.role}: {button.text()} outside the message")
        for a in shown:
            for b in shown:
                if a is not b and inside(a, message).intersects(inside(b, message)):
                    found.append(f"{message.role}: {a.text()} over {b.text()}")
        if not box.contains(inside(message.body, message)):
            found.append(f"{message.role}: text outside the message")
        text_width = message.body.document().size().width()
        if text_width > message.body.viewport().width() + 1:
            found.append(f"{message.role}: text {text_width} wider than its box")
        if inside(message.title, message).intersects(inside(message.stats_label, message)):
            found.append(f"{message.role}: figures over the title")
        title = inside(message.title, message).center().y()
        first = min((inside(b, message) for b in shown), key=lambda r: r.top(), default=None)
        if first is not None and abs(first.center().y() - title) > 2:
            found.append(f"{message.role}: the title is not in line with the first buttons")
    return found


@pytest.mark.parametrize("widths", [(480, 640, 800, 1100, 1600, 2400), (2400, 1100, 640, 480)])
def test_nothing_is_cut_off_at_any_width(qtbot, chatted, widths):
    window = chatted
    answer = window.view.messages()[1]
    for width in widths:
        window.resize(width, 700)
        qtbot.waitUntil(lambda w=width: window.width() == w)
        qtbot.wait(50)  # layouts settle
        assert problems(window) == [], width
        stats = answer.stats_label
        assert stats.text() and stats.toolTip()  # shortened on screen, whole in its tooltip
        if stats.width() >= stats.fontMetrics().horizontalAdvance(stats.text()):
            assert stats.shown_text() == stats.text()


def test_a_wide_window_keeps_a_readable_column(qtbot, chatted):
    window = chatted
    window.resize(2400, 700)
    qtbot.waitUntil(lambda: window.width() == 2400)
    qtbot.wait(50)
    view = window.view
    column = view.fontMetrics().averageCharWidth() * COLUMN_CHARS
    for message in view.messages():
        left = message.mapTo(view.widget(), QPoint(0, 0)).x()
        right = view.widget().width() - left - message.width()
        assert message.width() <= column + 1
        assert abs(left - right) <= 2  # centred
    window.resize(600, 700)  # and a narrow one uses the whole width
    qtbot.waitUntil(lambda: window.width() == 600)
    qtbot.wait(50)
    message = view.messages()[0]
    assert message.mapTo(view.widget(), QPoint(0, 0)).x() == MARGIN
