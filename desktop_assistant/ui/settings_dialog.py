"""The settings dialog, generated from the settings schema: one field per declared setting."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop_assistant.core import paths
from desktop_assistant.core.settings import SCHEMA, Setting, Settings


def _editor(spec: Setting, value: Any) -> QWidget:
    if spec.choices:
        box = QComboBox()
        box.addItems(list(spec.choices))
        box.setCurrentText(str(value))
        return box
    if spec.type is int:
        spin = QSpinBox()
        spin.setRange(int(spec.minimum), int(spec.maximum))
        spin.setValue(int(value))
        return spin
    if spec.type is float:
        dspin = QDoubleSpinBox()
        dspin.setRange(spec.minimum, spec.maximum)
        dspin.setSingleStep(0.05)
        dspin.setDecimals(2)
        dspin.setValue(float(value))
        return dspin
    line = QLineEdit(str(value))
    return line


def _value(spec: Setting, editor: QWidget) -> Any:
    if isinstance(editor, QComboBox):
        return editor.currentText()
    if isinstance(editor, QSpinBox):
        return editor.value()
    if isinstance(editor, QDoubleSpinBox):
        return round(editor.value(), 4)
    assert isinstance(editor, QLineEdit)
    return editor.text().strip()


class SettingsDialog(QDialog):
    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.settings = settings
        self.editors: dict[str, QWidget] = {}
        form = QFormLayout()
        for spec in SCHEMA:
            editor = _editor(spec, settings.get(spec.name))
            editor.setToolTip(spec.description)
            editor.setObjectName(spec.name)
            self.editors[spec.name] = editor
            form.addRow(spec.name.replace("_", " ").capitalize(), editor)
        where = QLabel(
            f"Conversations: {paths.history_file()}\nSettings: {paths.settings_file()}\n"
            f"Quantized models: {paths.cache_dir() / 'quantized'}"
        )
        where.setWordWrap(True)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(where)
        layout.addWidget(buttons)

    def accept(self) -> None:
        for spec in SCHEMA:
            value = _value(spec, self.editors[spec.name])
            if value != self.settings.get(spec.name):
                self.settings.set(spec.name, value)
        super().accept()
