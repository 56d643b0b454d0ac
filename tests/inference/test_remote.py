"""The remote engine against an OpenAI-compatible server on 127.0.0.1 (issue 21): streaming,
pictures, and each way a server fails, with a clear message and nothing lost."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from PIL import Image

from desktop_assistant.core.conversation import Message
from desktop_assistant.core.errors import AnswerInterrupted, ModelError
from desktop_assistant.core.remotes import Remote
from desktop_assistant.inference.engine import ChatEngine
from desktop_assistant.inference.options import GenerationOptions
from desktop_assistant.inference.remote import RemoteChatEngine
from tests.fake_openai_server import FakeOpenAIServer

OPTIONS = GenerationOptions(max_new_tokens=64, temperature=0.0, seed=3)
HELLO = [Message("system", "Be brief."), Message("user", "Hello?")]


@pytest.fixture
def server():
    with FakeOpenAIServer() as running:
        yield running


def engine_for(server, api_key="sk-test", timeout_s=5.0, **remote) -> RemoteChatEngine:
    return RemoteChatEngine(Remote("office", server.url, timeout_s=timeout_s, **remote), api_key)


def test_it_streams_an_answer_as_the_server_sends_it(server):
    engine = engine_for(server)
    assert isinstance(engine, ChatEngine)
    progress = []
    engine.load(progress.append)
    assert engine.is_loaded and engine.model == "served-model"  # the first one listed
    assert engine.name == "served-model on office" and engine.precision == "remote"
    assert "office" in progress[0]
    pieces = []
    reply = engine.generate(HELLO, OPTIONS, pieces.append)
    assert pieces == ["Hello", " from", " the", " server."]
    assert reply.text == "Hello from the server."
    stats = reply.stats
    assert stats.new_tokens == 4 and stats.prompt_tokens == 7 and not stats.stopped
    assert stats.precision == "remote" and 0 < stats.ttft_s <= stats.total_s
    sent = server.chat_requests()[0]
    assert sent["headers"]["authorization"] == "Bearer sk-test"
    assert sent["body"]["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello?"},
    ]
    body = sent["body"]
    assert body["stream"] is True and body["model"] == "served-model"
    assert body["max_tokens"] == 64 and body["temperature"] == 0.0 and body["seed"] == 3
    engine.unload()
    assert not engine.is_loaded


def test_pictures_go_as_data_urls(server, tmp_path):
    png, heavy = tmp_path / "cat.png", tmp_path / "big.bmp"
    Image.new("RGB", (64, 48), "orange").save(png)
    Image.new("RGB", (300, 200), "blue").save(heavy)
    engine = engine_for(server)
    engine.load()
    question = Message("user", "What is this?", images=(png, heavy))
    engine.generate([question], OPTIONS, lambda _: None)
    content = server.chat_requests()[0]["body"]["messages"][0]["content"]
    assert [p["type"] for p in content] == ["image_url", "image_url", "text"]
    assert content[0]["image_url"]["url"].startswith("data:image/png;base64,iVBOR")
    assert content[1]["image_url"]["url"].startswith("data:image/jpeg;base64,/9j/")  # BMP: a JPEG
    assert content[2]["text"] == "What is this?"


@pytest.mark.parametrize(
    "status, words",
    [
        (401, ["did not accept the API key", "Settings"]),
        (403, ["does not allow", "403"]),
        (404, ["has no model", "404"]),
        (429, ["busy", "429", "try again"]),
        (500, ["failed (500)", "log"]),
        (503, ["failed (503)"]),
    ],
)
def test_each_refusal_says_what_to_do(server, status, words):
    engine = engine_for(server)
    engine.load()
    server.script.status = status
    pieces = []
    with pytest.raises(ModelError) as caught:
        engine.generate(HELLO, OPTIONS, pieces.append)
    message = str(caught.value)
    assert "office" in message and all(w in message for w in words), message
    assert pieces == []
    server.script.status = 200  # and the next answer works
    assert engine.generate(HELLO, OPTIONS, lambda _: None).text == "Hello from the server."


def test_a_wrong_key_is_refused_at_connect(server):
    server.script.api_key = "sk-right"
    engine = engine_for(server, api_key="sk-wrong")
    with pytest.raises(ModelError, match="did not accept the API key"):
        engine.load()
    assert not engine.is_loaded


def test_a_model_the_server_does_not_have_names_the_ones_it_has(server):
    server.script.models = ["llama-3.1-70b", "qwen2.5-72b"]
    engine = engine_for(server, model="gpt-4")
    with pytest.raises(ModelError) as caught:
        engine.load()
    assert "'gpt-4'" in str(caught.value) and "llama-3.1-70b, qwen2.5-72b" in str(caught.value)


def test_connection_refused_and_an_unknown_name(monkeypatch):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    engine = RemoteChatEngine(Remote("gone", f"http://127.0.0.1:{port}/v1", timeout_s=3))
    with pytest.raises(ModelError, match="refused the connection: is the server running"):
        engine.load()
    real = socket.getaddrinfo

    def lookup(host, *args, **kwargs):
        if host == "gpu-box.invalid":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    engine = RemoteChatEngine(Remote("typo", "http://gpu-box.invalid:8000/v1", timeout_s=3))
    with pytest.raises(ModelError, match="no computer is called 'gpu-box.invalid'"):
        engine.load()


def test_a_stream_cut_mid_answer_keeps_what_came(server):
    engine = engine_for(server)
    engine.load()
    server.script.cut_after = 2
    pieces = []
    with pytest.raises(AnswerInterrupted, match="stopped sending in the middle") as caught:
        engine.generate(HELLO, OPTIONS, pieces.append)
    assert isinstance(caught.value, ModelError)  # the window's "failed" path, text kept
    assert pieces == ["Hello", " from"]
    server.script.cut_after = None
    assert engine.generate(HELLO, OPTIONS, lambda _: None).text == "Hello from the server."


@pytest.mark.parametrize("slow", ["first_delay_s", "header_delay_s"])
def test_stop_works_while_the_server_is_slow_to_answer(server, slow):
    """A slow first token (headers sent) or a server that sends nothing yet: Stop returns
    at once, and the next question is answered."""
    engine = engine_for(server, timeout_s=30)
    engine.load()
    setattr(server.script, slow, 20.0)
    result = {}

    def ask():
        result["reply"] = engine.generate(HELLO, OPTIONS, lambda _: None)

    thread = threading.Thread(target=ask)
    thread.start()
    deadline = time.monotonic() + 5
    while not server.chat_requests() and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)
    stopped_at = time.monotonic()
    engine.cancel()
    thread.join(timeout=5)
    assert not thread.is_alive(), "cancel did not end the request"
    assert time.monotonic() - stopped_at < 2
    assert result["reply"].stats.stopped and result["reply"].text == ""
    setattr(server.script, slow, 0.0)
    assert engine.generate(HELLO, OPTIONS, lambda _: None).text == "Hello from the server."


def test_stop_mid_answer_keeps_the_pieces_so_far(server):
    engine = engine_for(server)
    engine.load()
    server.script.pieces = [f"w{i} " for i in range(200)]
    server.script.piece_delay_s = 0.01
    pieces = []

    def on_text(text):
        pieces.append(text)
        if len(pieces) == 5:
            engine.cancel()

    reply = engine.generate(HELLO, OPTIONS, on_text)
    assert reply.stats.stopped and reply.text == "".join(pieces) and len(pieces) == 5


def test_a_slow_server_times_out_with_a_message(server):
    engine = engine_for(server, timeout_s=0.5)
    engine.load()
    server.script.first_delay_s = 3
    with pytest.raises(ModelError, match="did not answer within 0.5 s"):
        engine.generate(HELLO, OPTIONS, lambda _: None)
