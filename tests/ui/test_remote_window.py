"""A remote server in the window (issue 21): set up in File → Remote servers…, its models
listed without blocking the window, used for chats, the conversation moving between the
local model and the server and back, and its failures shown with nothing lost."""

from __future__ import annotations

import sqlite3

import pytest

from desktop_assistant.core import remotes
from desktop_assistant.core.conversation import MessageState
from desktop_assistant.core.settings import Settings
from desktop_assistant.inference.factory import open_engine
from tests.fake_openai_server import FakeOpenAIServer
from tests.fakes import FakeChatEngine, MemoryKeyring
from tests.ui.helpers import send, wait_ready

LOCAL = "/models/fake-model"


@pytest.fixture
def server():
    with FakeOpenAIServer() as running:
        yield running


@pytest.fixture
def keys(monkeypatch):
    ring = MemoryKeyring()
    monkeypatch.setattr(remotes, "_keyring", lambda: ring)
    return ring


@pytest.fixture
def window_with_remote(make_window, tmp_path, keys):
    """A window over a fake local engine whose factory opens real remote engines."""
    local = FakeChatEngine(tokens=["Local ", "answer."])
    settings_path = tmp_path / "settings.json"

    def factory(path):
        if path.startswith(remotes.PREFIX):
            return open_engine(path, settings=Settings(settings_path))
        return local

    window, _ = make_window(factory=factory, model_path=LOCAL, history=tmp_path / "h.sqlite3")
    return window, local


def test_set_up_list_models_and_use_a_server(qtbot, window_with_remote, server, keys):
    window, _ = window_with_remote
    wait_ready(qtbot, window)
    server.script.models = ["llama-3.1-8b", "qwen2.5-72b"]
    server.script.api_key = "sk-office"
    dialog = window.open_remote_servers()
    qtbot.addWidget(dialog)
    dialog.name.setText("office")
    dialog.address.setText(server.url.removesuffix("/v1"))
    dialog.key.setText("sk-office")
    dialog.list_button.click()
    assert "Asking" in dialog.message.text()  # the window goes on meanwhile
    qtbot.waitUntil(lambda: dialog.model.count() == 2, timeout=10_000)
    assert dialog.model.currentText() == "llama-3.1-8b"
    dialog.model.setEditText("qwen2.5-72b")
    dialog.use_button.click()
    qtbot.waitUntil(lambda: window.state == "ready" and "remote" in window.status.model_name,
                    timeout=10_000)  # fmt: skip
    assert window.status.model_name == "qwen2.5-72b on office · remote server"
    assert "another computer" in window.status.model_label.toolTip()
    assert window.settings.get("model_path") == "remote:office"
    assert keys.passwords == {("desktop-assistant", "office"): "sk-office"}
    assert "sk-office" not in window.settings.path.read_text()
    send(qtbot, window, "Hello?")
    qtbot.waitUntil(lambda: window.state == "ready" and len(window.view.messages()) == 2)
    assert window.view.messages()[1].text == "Hello from the server."
    assert server.chat_requests()[-1]["body"]["model"] == "qwen2.5-72b"


def test_a_conversation_moves_to_the_server_and_back(qtbot, window_with_remote, server):
    window, local = window_with_remote
    wait_ready(qtbot, window)
    send(qtbot, window, "First, locally")
    qtbot.waitUntil(lambda: window.state == "ready" and len(window.view.messages()) == 2)
    remotes.save_remote(window.settings, remotes.Remote("office", server.url, timeout_s=10))
    window.setup.use("chat", "remote:office")
    qtbot.waitUntil(lambda: "remote" in window.status.model_name, timeout=10_000)
    send(qtbot, window, "Then on the server")
    qtbot.waitUntil(lambda: window.state == "ready" and len(window.view.messages()) == 4)
    sent = server.chat_requests()[-1]["body"]["messages"]
    assert [m["content"] for m in sent if m["role"] != "system"] == [
        "First, locally", "Local answer.", "Then on the server",
    ]  # fmt: skip
    window.setup.use("chat", LOCAL)
    qtbot.waitUntil(lambda: window.state == "ready" and "remote" not in window.status.model_name)
    send(qtbot, window, "And back")
    qtbot.waitUntil(lambda: window.state == "ready" and len(window.view.messages()) == 6)
    seen = [m.content for m in local.calls[-1] if m.role != "system"]
    assert seen[-3:] == ["Then on the server", "Hello from the server.", "And back"]


def test_a_cut_stream_keeps_the_partial_answer_and_says_why(
    qtbot, window_with_remote, server, tmp_path
):
    window, _ = window_with_remote
    remotes.save_remote(window.settings, remotes.Remote("office", server.url, timeout_s=10))
    window.setup.use("chat", "remote:office")
    qtbot.waitUntil(lambda: "remote" in window.status.model_name, timeout=10_000)
    server.script.cut_after = 2
    send(qtbot, window, "Tell me more")
    entries = window.message_list.entries
    qtbot.waitUntil(lambda: window.state == "ready" and len(entries) == 2 and entries[1].state
                    == MessageState.INTERRUPTED)  # fmt: skip
    answer = window.message_list.entries[-1]
    assert answer.text == "Hello from" and answer.state == MessageState.INTERRUPTED
    assert "middle of the answer" in window.status.state_label.text()
    db = sqlite3.connect(tmp_path / "h.sqlite3")

    def stored():
        return db.execute(
            "SELECT content, state FROM messages WHERE role = 'assistant' ORDER BY id DESC"
        ).fetchone()

    qtbot.waitUntil(lambda: stored() == ("Hello from", MessageState.INTERRUPTED.value))
    db.close()


def test_a_server_that_is_down_says_so_and_nothing_typed_is_lost(qtbot, window_with_remote):
    window, _ = window_with_remote
    wait_ready(qtbot, window)
    window.composer.edit.setPlainText("A question I am still writing")
    gone = remotes.Remote("gone", "http://127.0.0.1:9/v1", timeout_s=3)
    remotes.save_remote(window.settings, gone)
    window.setup.use("chat", "remote:gone")
    label = window.status.state_label
    qtbot.waitUntil(lambda: "refused the connection" in label.text(), timeout=10_000)
    assert window.composer.text() == "A question I am still writing"


def test_a_server_removed_from_the_list_is_off_limits_again(qtbot, window_with_remote, keys):
    from desktop_assistant.core import offline

    window, _ = window_with_remote
    remotes.save_remote(window.settings, remotes.Remote("lab", "http://192.0.2.50:8000/v1"))
    remotes.save_remote(window.settings, remotes.Remote("office", "http://192.0.2.60:8000/v1"))
    assert offline.host_allowed("192.0.2.50") and offline.host_allowed("192.0.2.60")
    remotes.delete_remote(window.settings, "lab")
    assert not offline.host_allowed("192.0.2.50") and offline.host_allowed("192.0.2.60")
    offline.forget_hosts()


def test_speech_can_be_sent_to_the_server_when_picked(qtbot, window_with_remote, server):
    window, _ = window_with_remote
    server.script.models = ["served-model", "whisper-large-v3"]
    dialog = window.open_remote_servers()
    qtbot.addWidget(dialog)
    dialog.name.setText("office")
    dialog.address.setText(server.url)
    dialog.speech_button.click()  # no speech model yet: says what to give
    assert "speech model first" in dialog.message.text()
    assert window.settings.get("stt_model_path") == ""
    dialog.speech_model.setText("whisper-large-v3")
    dialog.speech_button.click()
    assert window.settings.get("stt_model_path") == "remote:office"
    saved = remotes.find_remote(window.settings, "office")
    assert saved.speech_model == "whisper-large-v3"
    assert "Speech now goes to office" in dialog.message.text()
