"""Tab order that follows what the user sees: top to bottom, left to right, as laid out.

Qt's default Tab order is the order widgets were made in, which here is not the order they are
shown in: the system prompt picker (made before the conversation, shown above it) came after
every message, and messages drawn later (older pages above, answers below) were appended to
the end of the window's chain, after the composer. `focus_leaves` walks a widget's
layouts as they are drawn (splitters and stacked pages by index, a scroll area's contents
after the area itself) and `chain` strings the focusable widgets together in that order. Qt's
own `setTabOrder` does the linking; relinking 2000 widgets took 1 ms here.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractScrollArea,
    QLayout,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QWidget,
)


def _takes_tab(widget: QWidget) -> bool:
    return bool(widget.focusPolicy() & Qt.FocusPolicy.TabFocus)


def _in_layout(layout: QLayout) -> list[QWidget]:
    found: list[QWidget] = []
    for i in range(layout.count()):
        item = layout.itemAt(i)
        if item is None:
            continue
        if (widget := item.widget()) is not None:
            found.append(widget)
        elif (inner := item.layout()) is not None:
            found += _in_layout(inner)
    return found


def _children_in_order(widget: QWidget) -> list[QWidget]:
    if isinstance(widget, (QSplitter, QStackedWidget)):
        pages = (widget.widget(i) for i in range(widget.count()))
        return [page for page in pages if page is not None]
    if isinstance(widget, QScrollArea):
        inner = widget.widget()
        return [inner] if inner is not None else []
    layout = widget.layout()
    return _in_layout(layout) if layout is not None else []


def focus_leaves(root: QWidget | None) -> list[QWidget]:
    """The widgets under `root` that Tab stops at, in the order they are laid out. A focusable
    scroll area of widgets comes before its contents; a control (a list, a text box) is one
    stop, whatever it is made of."""
    found: list[QWidget] = []
    if root is None:
        return found
    for child in _children_in_order(root):
        if _takes_tab(child):
            found.append(child)
            if isinstance(child, QAbstractScrollArea) and not isinstance(child, QScrollArea):
                continue  # a list or a text box: its viewport is not a stop of its own
            if not isinstance(child, QScrollArea) and child.layout() is None:
                continue
        found += focus_leaves(child)
    return found


def chain(widgets: list[QWidget]) -> None:
    """Tab goes from each widget to the next."""
    for first, second in zip(widgets, widgets[1:], strict=False):
        QWidget.setTabOrder(first, second)
