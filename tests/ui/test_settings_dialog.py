from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QSpinBox

from desktop_assistant.core.settings import SCHEMA, Settings
from desktop_assistant.ui.settings_dialog import SettingsDialog


def test_every_shown_setting_has_an_editor_and_changes_are_saved(qtbot, tmp_path):
    settings = Settings(tmp_path / "s.json")
    seen = []
    settings.on_change(lambda name, value: seen.append(name))
    dialog = SettingsDialog(settings)
    qtbot.addWidget(dialog)
    assert set(dialog.editors) == {spec.name for spec in SCHEMA if spec.shown}
    assert "stt_language_learned" not in dialog.editors  # the app keeps it itself
    precision = dialog.editors["precision"]
    assert isinstance(precision, QComboBox) and precision.currentText() == "auto"
    precision.setCurrentText("int4")
    tokens = dialog.editors["max_new_tokens"]
    assert isinstance(tokens, QSpinBox)
    tokens.setValue(99)
    temperature = dialog.editors["temperature"]
    assert isinstance(temperature, QDoubleSpinBox)
    dialog.accept()
    again = Settings(tmp_path / "s.json")
    assert again.get("precision") == "int4" and again.get("max_new_tokens") == 99
    assert sorted(seen) == ["max_new_tokens", "precision"]  # unchanged ones are not rewritten


def test_system_prompt_presets_are_edited_added_and_chosen(qtbot, tmp_path):
    settings = Settings(tmp_path / "s.json")
    dialog = SettingsDialog(settings)
    qtbot.addWidget(dialog)
    presets = dialog.editors["system_prompts"]
    presets.names.setCurrentText("Concise")
    presets.text.setPlainText("Be very brief.")
    presets.add("Pirate", "")
    presets.text.setPlainText("Talk like a pirate.")
    default = dialog.editors["system_prompt"]
    assert "Pirate" in [default.itemText(i) for i in range(default.count())]
    default.setCurrentText("Pirate")
    dialog.editors["theme"].setCurrentText("dark")
    dialog.accept()
    again = Settings(tmp_path / "s.json")
    saved = again.get("system_prompts")
    assert saved["Concise"] == "Be very brief." and saved["Pirate"] == "Talk like a pirate."
    assert again.get("system_prompt") == "Pirate" and again.get("theme") == "dark"


def test_the_microphone_is_picked_from_the_devices(qtbot, tmp_path, monkeypatch):
    from desktop_assistant.audio import capture

    devices = [capture.InputDevice(3, "USB headset", 1, 48000.0, False)]
    monkeypatch.setattr(capture, "list_input_devices", lambda: devices)
    settings = Settings(tmp_path / "s.json")
    dialog = SettingsDialog(settings)
    qtbot.addWidget(dialog)
    picker = dialog.editors["input_device"]
    assert isinstance(picker, QComboBox)
    assert [picker.itemText(i) for i in range(picker.count())] == ["", "USB headset"]
    picker.setCurrentIndex(1)
    dialog.accept()
    assert Settings(tmp_path / "s.json").get("input_device") == "USB headset"
