"""The remote engine against a real OpenAI-compatible server (issue 21): llama-cpp-python's
`llama_cpp.server` on 127.0.0.1 serving the dev Qwen2.5-Coder-0.5B GGUF, started and
stopped here. Needs the dev models (DESKTOP_ASSISTANT_TEST_MODELS) and a Python with
`llama-cpp-python[server]` named by DESKTOP_ASSISTANT_LLAMA_SERVER_PYTHON (.ci/run builds
one); skipped otherwise. The product never depends on llama-cpp-python."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from desktop_assistant.core.conversation import Message
from desktop_assistant.core.remotes import Remote
from desktop_assistant.inference.options import GenerationOptions
from desktop_assistant.inference.remote import RemoteChatEngine
from tests.test_cli import run

pytestmark = [pytest.mark.real_models, pytest.mark.timeout(300)]
SERVER_PYTHON = "DESKTOP_ASSISTANT_LLAMA_SERVER_PYTHON"
GGUF = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"


@pytest.fixture(scope="module")
def llama_server(real_models_dir, tmp_path_factory):
    python = os.environ.get(SERVER_PYTHON)
    if not python or not Path(python).is_file():
        pytest.skip(f"{SERVER_PYTHON} does not name a Python with llama-cpp-python[server]")
    model = real_models_dir / GGUF
    if not model.is_file():
        pytest.skip(f"{model} is missing; run get-dev-models")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = (tmp_path_factory.mktemp("llama-server") / "server.log").open("w+")
    server = subprocess.Popen(
        [
            python,
            "-m",
            "llama_cpp.server",
            "--model",
            str(model),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "2048",
            "--n_threads",
            "2",
            "--model_alias",
            "qwen-coder",
        ],  # fmt: skip
        stdout=log,
        stderr=subprocess.STDOUT,  # a file: llama.cpp logs more than a pipe holds
    )
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            log.seek(0)
            pytest.fail(f"llama_cpp.server ended: {log.read()[-2000:]}")
        try:
            with urllib.request.urlopen(url + "/models", timeout=2):
                break
        except OSError:
            time.sleep(0.5)
    else:
        server.kill()
        pytest.fail("llama_cpp.server did not start within 120 s")
    yield url
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
    log.close()


def test_the_engine_streams_a_real_answer(llama_server):
    engine = RemoteChatEngine(Remote("llama.cpp", llama_server, timeout_s=120))
    engine.load()
    assert engine.model == "qwen-coder" and engine.models == ["qwen-coder"]
    pieces = []
    question = [Message("user", "What is the capital of France? Answer in one word.")]
    options = GenerationOptions(max_new_tokens=16, temperature=0.0, seed=1)
    reply = engine.generate(question, options, pieces.append)
    assert "paris" in reply.text.lower()
    assert len(pieces) >= 1 and "".join(pieces) == reply.text
    # llama_cpp.server sends no usage in a stream: the pieces are counted (a piece a token)
    assert 0 < reply.stats.new_tokens <= 16 and reply.stats.ttft_s > 0
    # a follow-up with the whole conversation, as the window sends it
    follow = [*question, Message("assistant", reply.text), Message("user", "And of Italy?")]
    assert "rome" in engine.generate(follow, options, lambda _: None).text.lower()
    engine.unload()


def test_stop_in_the_middle_of_a_real_answer(llama_server):
    engine = RemoteChatEngine(Remote("llama.cpp", llama_server, timeout_s=120))
    engine.load()
    pieces = []

    def on_text(text):
        pieces.append(text)
        if len(pieces) == 3:
            engine.cancel()

    long = GenerationOptions(max_new_tokens=200, temperature=0.0)
    reply = engine.generate([Message("user", "Count from 1 to 100.")], long, on_text)
    assert reply.stats.stopped and len(pieces) == 3
    again = engine.generate([Message("user", "Say hi.")], long, lambda _: None)
    assert again.text and not again.stats.stopped


def test_ask_remote_on_the_command_line(llama_server, isolated_home):
    result = run("ask", "--remote", llama_server.removesuffix("/v1"), "--temperature", "0",
                 "--max-new-tokens", "16", "What is 2 + 2? Answer with a number.")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "4" in result.stdout
