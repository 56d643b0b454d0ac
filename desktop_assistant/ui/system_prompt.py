"""The system prompt of the open conversation: one of the named ones from the settings, or
the conversation's own text."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QInputDialog, QLabel, QWidget

from desktop_assistant.core.settings import Settings
from desktop_assistant.ui.plain import tip

CUSTOM = "Custom…"


class SystemPromptPicker(QWidget):
    """Signals: changed(text) when the user picks or writes another system prompt."""

    changed = Signal(str)

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.text = ""
        self.box = QComboBox(self)
        self.box.setToolTip(
            "How the assistant should behave in this conversation. Named prompts are edited "
            "in Settings."
        )
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 4, 12, 0)
        layout.addWidget(QLabel("System prompt:"))
        layout.addWidget(self.box)
        layout.addStretch(1)
        self.box.activated.connect(self._on_activated)
        settings.on_change(lambda name, _value: self._fill() if name == "system_prompts" else None)
        self._fill()

    def default_text(self) -> str:
        """The text new conversations start with."""
        return self.settings.get("system_prompts").get(self.settings.get("system_prompt"), "")

    def set_text(self, text: str) -> None:
        """Show the prompt of the conversation that was opened (no `changed` signal)."""
        self.text = text
        self._fill()

    def _fill(self) -> None:
        presets = self.settings.get("system_prompts")
        self.box.blockSignals(True)
        self.box.clear()
        self.box.addItems(list(presets))
        self.box.addItem(CUSTOM)
        name = next((n for n, t in presets.items() if t == self.text), None)
        if name is None:
            self.box.setItemText(self.box.count() - 1, f"Custom: {self.text[:30]}…")
            self.box.setCurrentIndex(self.box.count() - 1)
        else:
            self.box.setCurrentText(name)
        self.box.setToolTip(tip(self.text) or "No system prompt")
        self.box.blockSignals(False)

    def _on_activated(self, index: int) -> None:
        presets = self.settings.get("system_prompts")
        if index == self.box.count() - 1:
            text, ok = QInputDialog.getMultiLineText(
                self, "System prompt", "How should the assistant behave here?", self.text
            )
            if not ok:
                self._fill()
                return
        else:
            text = presets.get(self.box.itemText(index), "")
        self.choose(text)

    def choose(self, text: str) -> None:
        if text != self.text:
            self.text = text
            self.changed.emit(text)
        self._fill()
