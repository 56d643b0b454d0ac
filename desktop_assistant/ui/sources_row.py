"""The line under an answer about documents that names its sources (issue 22): each source a
link "source:ID" to its passage, which MessageTools shows (the message's action)."""

from __future__ import annotations

import html
from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import QTextDocumentFragment
from PySide6.QtWidgets import QLabel, QWidget

from desktop_assistant.core.grounding import CitedSource


class SourcesRow(QLabel):
    """Signals: linkActivated("source:ID") when a source is clicked (or chosen by key)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.RichText)  # the names are escaped below
        self.setWordWrap(True)
        flags = Qt.TextInteractionFlag
        self.setTextInteractionFlags(flags.LinksAccessibleByKeyboard | flags.LinksAccessibleByMouse)
        self.setAccessibleName("Sources of this answer")

    def set_sources(self, sources: Sequence[CitedSource]) -> None:
        links = " · ".join(
            f'<a href="source:{s.passage_id}">{html.escape(s.label())}</a>'
            if s.passage_id
            else html.escape(s.label())
            for s in sources
        )
        self.setText(f"<b>Sources:</b> {links}" if sources else "")
        self.setVisible(bool(sources))

    def plain_text(self) -> str:
        """What it says, as plain text ("" when hidden)."""
        return "" if self.isHidden() else QTextDocumentFragment.fromHtml(self.text()).toPlainText()
