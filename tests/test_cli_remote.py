"""`ask --remote`: the command line against an OpenAI-compatible server (issue 21), run as a
user runs it (a subprocess, offline guard on), the server a fake one on 127.0.0.1."""

from __future__ import annotations

import json
import socket

import pytest
from PIL import Image

from desktop_assistant.core.remotes import KEY_VARIABLE, Remote, save_remote
from desktop_assistant.core.settings import Settings
from tests.fake_openai_server import FakeOpenAIServer
from tests.test_cli import assert_one_error_line, run

pytestmark = pytest.mark.slow


@pytest.fixture
def server():
    with FakeOpenAIServer() as running:
        yield running


def test_ask_a_remote_server(server, isolated_home):
    result = run("ask", "--remote", server.url, "Hello?", env={KEY_VARIABLE: "sk-cli"})
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Hello from the server.\n"
    sent = server.chat_requests()[0]
    assert sent["headers"]["authorization"] == "Bearer sk-cli"
    assert sent["body"]["messages"][-1] == {"role": "user", "content": "Hello?"}
    assert "sk-cli" not in result.stderr


def test_ask_a_named_server_with_a_picture_as_json(server, isolated_home, tmp_path):
    save_remote(Settings(), Remote("office", server.url, timeout_s=10))  # as the window does
    picture = tmp_path / "cat.png"
    Image.new("RGB", (32, 32), "orange").save(picture)
    result = run("ask", "--remote", "office", "--image", str(picture), "--json", "What is it?")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["text"] == "Hello from the server." and out["new_tokens"] == 4
    content = server.chat_requests()[0]["body"]["messages"][-1]["content"]
    assert content[0]["image_url"]["url"].startswith("data:image/png;base64,")


def test_a_model_the_server_lacks_is_one_error_line(server, isolated_home):
    server.script.models = ["llama-3.1-8b"]
    address = server.url.removesuffix("/v1")  # as people type it
    result = run("ask", "--remote", address, "--remote-model", "gpt-4", "Hi")
    assert_one_error_line(result, 2, "has no model 'gpt-4'", "llama-3.1-8b")


def test_a_server_that_is_not_there_is_one_error_line(isolated_home):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = run("ask", "--remote", f"127.0.0.1:{port}", "Hi")
    assert_one_error_line(result, 2, "refused the connection")


def test_a_server_elsewhere_is_reachable_only_because_it_was_named(isolated_home):
    """The offline guard lets the named server through and nothing else: a name that does
    not resolve here gives the lookup's own message, not "offline"."""
    result = run("ask", "--remote", "http://gpu-box.invalid:8000", "Hi", timeout=60)
    assert result.returncode == 2, result.stderr
    assert "offline" not in result.stderr and "gpu-box.invalid" in result.stderr
