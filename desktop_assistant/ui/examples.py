"""What an empty conversation shows: a few things to try, one click from the prompt box."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QPushButton, QVBoxLayout, QWidget

# (kind, button text, what goes into the prompt box). "picture" also opens the picture
# picker; "voice" also starts the microphone when there is one.
EXAMPLES = (
    ("text", "Explain how a rainbow forms, in three sentences",
     "Explain how a rainbow forms, in three sentences."),
    ("text", "Write a short, friendly reminder to water the plants",
     "Write a short, friendly reminder to water the plants."),
    ("picture", "Ask about a picture: choose one, then “What is in this picture?”",
     "What is in this picture?"),
    ("voice", "Talk instead of typing: hold Space or click Mic, then speak", ""),
)  # fmt: skip


class ExamplePrompts(QWidget):
    """Signals: chosen(kind, text) when an example is clicked."""

    chosen = Signal(str, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("examples")
        title = QLabel("<b>Try one of these, or type your own below</b>")
        title.setTextFormat(Qt.TextFormat.RichText)  # our own words, never the user's
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 24, 0, 0)
        layout.addWidget(title)
        self.buttons: dict[str, QPushButton] = {}
        for kind, label, text in EXAMPLES:
            button = QPushButton(label)
            button.setObjectName(f"example-{kind}")
            button.setCursor(Qt.CursorShape.PointingHandCursor)
            button.setStyleSheet("text-align: left; padding: 6px 10px;")
            button.clicked.connect(lambda _=False, k=kind, t=text: self.chosen.emit(k, t))
            layout.addWidget(button)
            self.buttons.setdefault(kind, button)
