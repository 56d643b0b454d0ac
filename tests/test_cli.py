"""The command line, run as a user runs it: a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from desktop_assistant import __version__

pytestmark = pytest.mark.slow  # each test starts the app as a user does (a new Python)


def run(*args, stdin=None, env=None, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "desktop_assistant", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def assert_one_error_line(result, code, *fragments):
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_ask_streams_the_answer(tiny_chat_dir):
    result = run("ask", "--model", str(tiny_chat_dir), "--max-new-tokens", "8", "Hello")
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith("\n") and len(result.stdout) > 1
    assert result.stderr == ""


def test_ask_json(tiny_chat_dir):
    result = run("ask", "--model", str(tiny_chat_dir), "--max-new-tokens", "6", "--json", "Hi")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"text", "prompt_tokens", "new_tokens", "ttft_s", "decode_tok_s"}
    assert isinstance(data["text"], str)
    assert data["new_tokens"] == 6 and data["prompt_tokens"] > 0
    assert data["ttft_s"] > 0 and data["decode_tok_s"] > 0


def test_ask_reads_stdin_and_works_with_gpt2(tiny_gpt2_dir):
    result = run(
        "ask",
        "--model",
        str(tiny_gpt2_dir),
        "--max-new-tokens",
        "4",
        "--json",
        "-",
        stdin="Tell me a story",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["prompt_tokens"] > 3


def test_model_is_remembered_from_settings(tiny_chat_dir, isolated_home):
    settings = isolated_home / "config" / "settings.json"
    settings.parent.mkdir(parents=True)
    settings.write_text(json.dumps({"model_path": str(tiny_chat_dir)}))
    result = run("ask", "--max-new-tokens", "3", "--json", "Hi")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["new_tokens"] == 3


@pytest.mark.parametrize(
    "args, fragment",
    [
        (("ask", "--model", "/no/such/folder", "Hi"), "model folder not found"),
        (("ask", "Hi"), "no model configured"),
        (("ask", "--model", "/tmp", "   "), "prompt is empty"),
        (("ask", "--max-new-tokens", "lots", "Hi"), "invalid int value"),
        (("ask", "--temperature", "-1", "--model", "/tmp", "Hi"), "temperature"),
        (("ask",), "PROMPT"),
        (("--no-such-option",), "unrecognized arguments"),
    ],
)
def test_bad_input_is_one_error_line_and_exit_2(args, fragment):
    assert_one_error_line(run(*args), 2, fragment)


def test_broken_model_folder_is_exit_2(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "model.safetensors").write_bytes(b"garbage")
    assert_one_error_line(run("ask", "--model", str(tmp_path), "Hi"), 2, "could not load")


def test_version_and_help_everywhere():
    version = run("--version")
    assert version.returncode == 0 and __version__ in version.stdout
    for args in ((), ("ask",), ("bench",), ("bench", "startup"), ("bench", "chat")):
        result = run(*args, "--help")
        assert result.returncode == 0, (args, result.stderr)
        assert "usage: desktop-assistant" in result.stdout


def test_console_script_is_installed():
    script = os.path.join(os.path.dirname(sys.executable), "desktop-assistant")
    result = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and __version__ in result.stdout


def test_bench_startup_and_chat_print_figures(tiny_chat_dir):
    startup = run("bench", "startup", "--runs", "1", "--json", env={"QT_QPA_PLATFORM": "offscreen"})
    assert startup.returncode == 0, startup.stderr
    data = json.loads(startup.stdout)
    assert data["paint_s_median"] > 0 and data["torch_imported_before_paint"] is False
    assert data["cpu"] and isinstance(data["cpu_flags"], list)  # figures name their machine
    chat = run(
        "bench",
        "chat",
        "--model",
        str(tiny_chat_dir),
        "--new-tokens",
        "8",
        "--prompt-tokens",
        "32",
        "--runs",
        "1",
        "--json",
    )
    assert chat.returncode == 0, chat.stderr
    figures = json.loads(chat.stdout)
    for key in (
        "load_s",
        "import_s",
        "load_over_import",
        "ttft_s",
        "prefill_tok_s",
        "decode_tok_s",
        "peak_rss_mb",
    ):
        assert figures[key] > 0, key
    assert figures["new_tokens"] == 8 and figures["prompt_tokens"] >= 32
    assert figures["cpu"] and figures["cpu_capability"] and figures["int8_weight_max"] in (63, 127)


def test_bench_window_reports_ui_stalls(tiny_chat_dir):
    result = run(
        "bench",
        "window",
        "--model",
        str(tiny_chat_dir),
        "--new-tokens",
        "16",
        "--json",
        env={"QT_QPA_PLATFORM": "offscreen"},
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["new_tokens"] == 16 and data["heartbeats"] > 0
    assert data["ui_max_stall_ms"] is not None and data["renders"] >= 1


def test_no_display_says_so_and_how_to_go_on():
    """Issue 18, 15: without a display Qt aborted with a hint about xcb libraries."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.pop("QT_QPA_PLATFORM", None)
    result = subprocess.run(
        [sys.executable, "-m", "desktop_assistant"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert_one_error_line(result, 2, "no display found", "desktop-assistant ask", "xvfb-run")


def test_where_the_window_can_open():
    from desktop_assistant.app import no_display_reason

    assert no_display_reason({}, "linux")
    assert not no_display_reason({"DISPLAY": ":0"}, "linux")
    assert not no_display_reason({"WAYLAND_DISPLAY": "wayland-0"}, "linux")
    assert not no_display_reason({"QT_QPA_PLATFORM": "offscreen"}, "linux")
    assert not no_display_reason({}, "darwin") and not no_display_reason({}, "win32")


def test_the_app_keeps_its_files_to_the_user(tmp_path, tiny_chat_dir):
    """Issue 18: data and settings owner-only, those from before included."""
    import stat

    home = tmp_path / "home"
    (home / "config").mkdir(parents=True)
    (home / "data").mkdir()
    old = [home / "config" / "settings.json", home / "data" / "history.sqlite3"]
    for path in old:
        path.write_text("{}")
        path.chmod(0o644)
    (home / "data").chmod(0o755)
    result = run(
        "ask",
        "--model",
        str(tiny_chat_dir),
        "--precision",
        "int8",
        "--max-new-tokens",
        "2",
        "Hi",
        env={"DESKTOP_ASSISTANT_HOME": str(home)},
    )
    assert result.returncode == 0, result.stderr

    def mode(path):
        return stat.S_IMODE(path.stat().st_mode)

    assert [mode(p) for p in old] == [0o600, 0o600]
    assert mode(home / "data") == 0o700 and mode(home / "config") == 0o700
    # the quantized copy and the built int8 kernel (a library: 0o700), written just now
    made = [p for p in (home / "cache").rglob("*")]
    assert made and all(mode(p) == 0o700 for p in made if p.is_dir())
    assert all(mode(p) in (0o600, 0o700) for p in made if p.is_file())


def test_the_log_holds_no_message_text(tmp_path, tiny_chat_dir):
    """Issue 18: the rotating log in the data folder says what happened, not what was said."""
    home = tmp_path / "home"
    env = {"DESKTOP_ASSISTANT_HOME": str(home), "QT_QPA_PLATFORM": "offscreen"}
    result = run(
        "--model",
        str(tiny_chat_dir),
        "--send",
        "Quixotic zebracorn question",
        "--screenshot",
        str(tmp_path / "shot.png"),
        env=env,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    logged = "".join(p.read_text() for p in (home / "data" / "logs").glob("*.log*"))
    assert "loaded" in logged  # the log is written...
    assert "zebracorn" not in logged.lower()  # ...without the conversation
