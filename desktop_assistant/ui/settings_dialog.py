"""The settings dialog, generated from the settings schema: one field per declared setting."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop_assistant.core import paths
from desktop_assistant.core.settings import SCHEMA, Setting, Settings
from desktop_assistant.ui.plain import faint, tip


class PresetsEditor(QWidget):
    """Named texts (system prompts): pick a name, edit its text, add or remove names."""

    def __init__(self, presets: dict[str, str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.presets = dict(presets)
        self.names = QComboBox()
        self.names.addItems(list(self.presets))
        self.text = QPlainTextEdit()
        self.text.setFixedHeight(80)
        self.names.setAccessibleName("System prompt to edit")
        self.text.setAccessibleName("Text of this system prompt")
        add, remove = QPushButton("Add…"), QPushButton("Remove")
        add.clicked.connect(self._add)
        remove.clicked.connect(self._remove)
        row = QHBoxLayout()
        row.addWidget(self.names, 1)
        row.addWidget(add)
        row.addWidget(remove)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.text)
        self._shown = ""
        self.names.currentTextChanged.connect(self._show)
        self._show(self.names.currentText())

    def _show(self, name: str) -> None:
        if self._shown in self.presets:
            self.presets[self._shown] = self.text.toPlainText()
        self._shown = name
        self.text.setPlainText(self.presets.get(name, ""))

    def value(self) -> dict[str, str]:
        self._show(self.names.currentText())
        return dict(self.presets)

    def add(self, name: str, text: str = "") -> None:
        name = name.strip()
        if name and name not in self.presets:
            self.presets[name] = text
            self.names.addItem(name)
        self.names.setCurrentText(name)

    def _add(self) -> None:
        name, ok = QInputDialog.getText(self, "New system prompt", "Name:")
        if ok:
            self.add(name)

    def _remove(self) -> None:
        name = self.names.currentText()
        if name and len(self.presets) > 1:
            self._shown = ""
            del self.presets[name]
            self.names.removeItem(self.names.currentIndex())


def _editor(spec: Setting, value: Any) -> QWidget:
    if spec.type is dict:
        return PresetsEditor(value)
    if spec.type is bool:
        check = QCheckBox()
        check.setChecked(bool(value))
        return check
    if spec.choices:
        box = QComboBox()
        box.addItems(list(spec.choices))
        box.setCurrentText(str(value))
        return box
    if spec.type is int:
        spin = QSpinBox()
        spin.setRange(int(spec.minimum), int(spec.maximum))
        spin.setSpecialValueText(spec.special)  # shown for the minimum ("Automatic")
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
    if isinstance(editor, PresetsEditor):
        return editor.value()
    if isinstance(editor, QCheckBox):
        return editor.isChecked()
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
        for spec in (s for s in SCHEMA if s.shown):
            editor = _editor(spec, settings.get(spec.name))
            editor.setObjectName(spec.name)
            self.editors[spec.name] = editor
            form.addRow(spec.title, editor)
        # The default system prompt is one of the named ones.
        default = QComboBox()
        default.addItems(list(settings.get("system_prompts")))
        default.setCurrentText(settings.get("system_prompt"))
        default.setObjectName("system_prompt")
        form.replaceWidget(self.editors["system_prompt"], default)
        self.editors["system_prompt"].deleteLater()
        self.editors["system_prompt"] = default
        self._device_picker(form, settings)
        for spec in (s for s in SCHEMA if s.shown):
            when = f" Applies {spec.applies}." if spec.applies else ""
            editor = self.editors[spec.name]
            editor.setToolTip(tip(spec.description + when))
            editor.setAccessibleName(spec.title)
            editor.setAccessibleDescription(spec.description + when)
        presets = self.editors["system_prompts"]
        assert isinstance(presets, PresetsEditor)
        presets.names.model().rowsInserted.connect(lambda *_: self._sync_defaults())
        presets.names.model().rowsRemoved.connect(lambda *_: self._sync_defaults())
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
        note = QLabel(
            "Changes apply when you press OK. Sampling settings apply from the next answer; "
            "a new model folder, precision or thread count reloads the model at once."
        )
        note.setWordWrap(True)
        faint(note)
        layout = QVBoxLayout(self)
        layout.addWidget(note)
        layout.addLayout(form)
        layout.addWidget(where)
        layout.addWidget(buttons)

    def _device_picker(self, form: QFormLayout, settings: Settings) -> None:
        """The microphone is picked from those the system offers (or typed, if unplugged)."""
        from desktop_assistant.audio.capture import list_input_devices

        picker = QComboBox()
        picker.setEditable(True)
        picker.addItem("")  # the system's default
        picker.setItemData(0, "System default", Qt.ItemDataRole.ToolTipRole)
        for device in list_input_devices():
            picker.addItem(device.name)
        picker.setCurrentText(settings.get("input_device"))
        line = picker.lineEdit()
        if line is not None:  # the picker is editable: it has one
            line.setPlaceholderText("System default")
        picker.setObjectName("input_device")
        old = self.editors["input_device"]
        form.replaceWidget(old, picker)
        old.deleteLater()
        self.editors["input_device"] = picker

    def _sync_defaults(self) -> None:
        default, presets = self.editors["system_prompt"], self.editors["system_prompts"]
        assert isinstance(default, QComboBox) and isinstance(presets, PresetsEditor)
        current = default.currentText()
        default.clear()
        default.addItems(list(presets.presets))
        default.setCurrentText(current if current in presets.presets else "")

    def accept(self) -> None:
        for spec in (s for s in SCHEMA if s.shown):
            value = _value(spec, self.editors[spec.name])
            if value != self.settings.get(spec.name):
                self.settings.set(spec.name, value)
        super().accept()
