"""`desktop-assistant doctor`: each part checked, problems named (issue 18)."""

from __future__ import annotations

import json
import threading

from desktop_assistant.cli import doctor
from desktop_assistant.core import paths


def _levels(findings, part):
    return [f.level for f in findings if f.part == part]


def test_every_check_answers_without_raising(qapp):
    findings = doctor.run_checks(doctor.all_checks())
    assert {f.level for f in findings} <= {"ok", "note", "fail"}
    parts = {f.part for f in findings}
    assert {"python", "cpu", "torch", "memory", "disk", "window", "data", "network"} <= parts


def test_a_broken_check_is_a_failure_not_a_crash():
    def broken():
        raise RuntimeError("boom")

    [finding] = doctor.run_checks([broken])
    assert finding.level == "fail" and "boom" in finding.text


def test_the_data_folder_its_mode_and_a_damaged_history():
    folder = paths.data_dir()
    folder.mkdir(parents=True)
    folder.chmod(0o755)
    assert _levels(doctor.data_folder(), "data") == ["note"]
    folder.chmod(0o700)
    paths.history_file().write_bytes(b"SQLite format 3\x00" + b"\x07" * 4000)
    findings = doctor.data_folder()
    assert _levels(findings, "data") == ["ok"] and _levels(findings, "history") == ["fail"]


def test_installed_models_are_checked_and_verified(tiny_chat_dir):
    from desktop_assistant.models.importer import import_model

    model = import_model(tiny_chat_dir, lambda message, fraction: None, threading.Event())
    assert _levels(doctor.models(verify=True)(), "model") == ["ok"]
    weights = next(model.path.glob("*.safetensors"))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # same size, other bytes
    weights.write_bytes(bytes(data))
    assert _levels(doctor.models(verify=False)(), "model") == ["ok"]  # sizes only
    [finding] = doctor.models(verify=True)()
    assert finding.level == "fail" and "checksum" in finding.text
    weights.unlink()
    [finding] = doctor.models()()
    assert finding.level == "fail" and "missing" in finding.text


def test_the_command_prints_json_and_fails_when_a_part_fails(capsys, monkeypatch):
    from desktop_assistant import cli

    monkeypatch.setattr(
        doctor, "all_checks", lambda verify=False: [lambda: [doctor.Finding("x", "fail", "no")]]
    )
    assert cli.run(["doctor", "--json"]) == 1
    assert json.loads(capsys.readouterr().out) == [{"part": "x", "level": "fail", "text": "no"}]
