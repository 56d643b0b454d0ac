"""The status bar's three labels (the model in use, what it is doing, the last answer's
figures) and the model's state, which decides whether a message is answered now."""

from __future__ import annotations

from PySide6.QtWidgets import QFrame, QLabel, QStatusBar, QWidget

from desktop_assistant.ui.plain import ElidedLabel, plain_label, tip

STATE_TEXT = {
    "no-model": "no model",
    "loading": "Loading model…",
    "ready": "ready",
    "generating": "generating…",
}


class StatusLine:
    """Owns the labels it adds to `bar`; everything else in the window writes to the status
    bar through it."""

    def __init__(self, bar: QStatusBar) -> None:
        self.bar = bar
        self.state = "no-model"
        self.model_label = plain_label(QLabel("no model"))
        self.state_label = ElidedLabel()
        self.stats_label = plain_label(QLabel())
        bar.addWidget(self.model_label)
        bar.addWidget(self.state_label, 1)
        line = QFrame()  # the answer's figures stand apart from the state's text
        line.setFrameShape(QFrame.Shape.VLine)
        line.setFrameShadow(QFrame.Shadow.Sunken)
        line.hide()  # until there are figures
        self._separator = line
        bar.addPermanentWidget(line)
        bar.addPermanentWidget(self.stats_label)
        self.set_state("no-model")

    @property
    def model_name(self) -> str:
        return self.model_label.text()

    def set_model(self, name: str, note: str = "") -> None:
        """The model in use, and what its tooltip says (where its answers come from)."""
        self.model_label.setText(name)
        self.model_label.setToolTip(tip(note))

    def set_state(self, state: str, detail: str = "") -> None:
        self.state = state
        text = STATE_TEXT[state]
        self.state_label.setText(f"{text}: {detail}" if detail else text)
        self.state_label.setToolTip(tip(detail))

    def say(self, text: str) -> None:
        """Replace the state's text until the state changes."""
        self.state_label.setText(text)

    def say_after_state(self, text: str) -> None:
        self.state_label.setText(STATE_TEXT[self.state] + text)

    def problem(self, message: str) -> None:
        self.state_label.setText(f"Problem: {message}")
        self.state_label.setToolTip(tip(message))

    def set_stats(self, text: str) -> None:
        self.stats_label.setText(text)
        self._separator.setVisible(bool(text))

    def flash(self, text: str, ms: int) -> None:
        """A passing message, over the labels for `ms` milliseconds."""
        self.bar.showMessage(text, ms)

    def add_button(self, widget: QWidget) -> None:
        self.bar.addPermanentWidget(widget)
