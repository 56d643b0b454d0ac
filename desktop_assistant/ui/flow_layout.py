"""A layout that puts its widgets in a row and wraps them onto more rows when narrow.

Qt has none built in (its documentation has one as an example, "Flow Layout", which this
follows): a message's buttons (Regenerate, Read aloud, Edit, Delete, Copy) in a box layout
made the message at least as wide as all of them, and in a narrow window its right-hand side
was cut off, text included. Rows are aligned to the right, like the row they used to be
(or to the left: the document chips above the prompt box).

The example's layout reports a height for each width (`hasHeightForWidth`); in a column of
500 messages that made Qt ask every message for its height at every layout pass, through
Python: drawing a 500-message chat took 8.1-8.5 s instead of 2.3-2.4 s and the window's
longest stall went from 47-50 ms to 275-282 ms (`bench history`). A wrapping widget that set
its own fixed height was still 15-20% slower (one more widget a message). This layout instead
asks for the height of the rows it made at its last layout, and lays out again when that
changes: the same figures as a plain row (1.9-2.2 s, 44-53 ms).
"""

from __future__ import annotations

from PySide6.QtCore import QMargins, QPoint, QRect, QSize, Qt
from PySide6.QtWidgets import QLayout, QLayoutItem, QWidget


class FlowLayout(QLayout):
    def __init__(self, parent: QWidget | None = None, spacing: int = 4, right: bool = True) -> None:
        super().__init__(parent)
        self._right = right  # rows aligned to the right (else the left)
        self._items: list[QLayoutItem] = []
        self._spacing = spacing
        self._hints: tuple[QSize, QSize] | None = None
        self._heights: dict[int, int] = {}
        self._height = 0  # of the rows at the last layout
        self.setContentsMargins(QMargins(0, 0, 0, 0))

    def addItem(self, item: QLayoutItem) -> None:  # noqa: N802 (Qt API)
        self._items.append(item)

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, index: int) -> QLayoutItem | None:  # noqa: N802 (Qt API)
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index: int) -> QLayoutItem | None:  # noqa: N802 (Qt API)
        return self._items.pop(index) if 0 <= index < len(self._items) else None

    def expandingDirections(self) -> Qt.Orientation:  # noqa: N802 (Qt API)
        return Qt.Orientation(0)

    def height_for(self, width: int) -> int:
        """The height the items take in rows `width` wide."""
        if width not in self._heights:
            self._heights[width] = self._lay_out(QRect(0, 0, width, 0), move=False)
        return self._heights[width]

    def setGeometry(self, rect: QRect) -> None:  # noqa: N802 (Qt API)
        super().setGeometry(rect)
        height = self._lay_out(rect, move=True)
        if height != self._height:  # more rows (or fewer): ask for that much room
            self._height = height
            self._hints = None
            self.invalidate()

    def invalidate(self) -> None:
        self._hints = None
        self._heights = {}
        super().invalidate()

    def _sizes(self) -> tuple[QSize, QSize]:
        """(all on one row, one item a row), kept until the layout is invalidated: Qt asks
        for them many times a layout pass."""
        if self._hints is None:
            shown = self._shown()
            gaps = self._spacing * max(0, len(shown) - 1)
            one_row = QSize(
                sum(i.sizeHint().width() for i in shown) + gaps,
                max((i.sizeHint().height() for i in shown), default=0),
            )
            widest = QSize()
            for item in shown:
                widest = widest.expandedTo(item.minimumSize())
            rows = max(self._height, one_row.height())  # as many rows as the last layout had
            self._hints = (one_row.expandedTo(QSize(0, rows)), widest.expandedTo(QSize(0, rows)))
        return self._hints

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt API)
        return self._sizes()[0]

    def minimumSize(self) -> QSize:  # noqa: N802 (Qt API)
        return self._sizes()[1]

    def _shown(self) -> list[QLayoutItem]:
        return [i for i in self._items if not i.isEmpty()]  # hidden widgets take no room

    def _lay_out(self, rect: QRect, move: bool) -> int:
        """Place the items in rows within `rect` (when `move`); the height they take."""
        rows: list[list[QLayoutItem]] = [[]]
        used = 0
        for item in self._shown():
            width = item.sizeHint().width()
            if rows[-1] and used + self._spacing + width > rect.width():
                rows.append([])
                used = 0
            used += (self._spacing if rows[-1] else 0) + width
            rows[-1].append(item)
        y = rect.y()
        for row in rows:
            if not row:
                continue
            height = max(i.sizeHint().height() for i in row)
            width = sum(i.sizeHint().width() for i in row) + self._spacing * (len(row) - 1)
            x = rect.x() + (max(0, rect.width() - width) if self._right else 0)
            for item in row:
                hint = item.sizeHint()
                if move:
                    top = y + (height - hint.height()) // 2
                    size = QSize(min(hint.width(), rect.width()), hint.height())
                    item.setGeometry(QRect(QPoint(x, top), size))
                x += hint.width() + self._spacing
            y += height + self._spacing
        return max(0, y - rect.y() - self._spacing)
