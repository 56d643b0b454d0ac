"""`RemoteChatEngine`: a `ChatEngine` that streams answers from an OpenAI-compatible server
(vLLM, llama.cpp's server, Ollama) listed by the user (`core.remotes`, issue 21).

The `openai` package does the HTTP and the server-sent events; this module only maps the
conversation onto `/v1/chat/completions` (pictures as data URLs, for vision models), the
answer onto `Reply`, and every failure onto a message a user can act on. History, pictures,
voice and commands stay local: only the messages of the conversation go to the server.

Cancelling: the request and its stream are read on a thread of their own, which hands the
pieces over a queue; `cancel` (any thread) sets a flag the answer loop checks every 50 ms,
so Stop works the same whether the server is slow to send its headers, its first token or
the next one. The client is then closed (a new one is made for the next answer), which ends
the reader too.
"""

from __future__ import annotations

import base64
import contextlib
import io
import logging
import queue
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from desktop_assistant.core.conversation import Message
from desktop_assistant.core.errors import AnswerInterrupted, ModelError
from desktop_assistant.core.remotes import Remote
from desktop_assistant.inference.engine import ProgressCallback, TextCallback
from desktop_assistant.inference.options import GenerationOptions, Reply, ReplyStats

log = logging.getLogger(__name__)
SENT_AS_IS = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}
LOOKUP_FAILED = ("name or service", "nodename", "getaddrinfo", "name resolution")
MAX_SENT_BYTES = 4 << 20  # a bigger (or HEIC, AVIF...) picture is sent as a JPEG copy


def image_url(path: Path) -> str:
    """A picture as a data URL: PNG and JPEG files as they are, anything else (or anything
    big) as a JPEG of at most 2048 px a side, which every vision server reads."""
    data = path.read_bytes()
    mime = SENT_AS_IS.get(path.suffix.lower())
    if mime is None or len(data) > MAX_SENT_BYTES:
        from desktop_assistant.core.images import open_image

        picture = open_image(path)
        out = io.BytesIO()
        picture.convert("RGB").save(out, "JPEG", quality=90)
        data, mime = out.getvalue(), "image/jpeg"
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def wire_messages(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """The conversation as the chat completions API takes it."""
    wired: list[dict[str, Any]] = []
    for message in messages:
        if not message.images:
            wired.append({"role": message.role, "content": message.content})
            continue
        parts: list[dict[str, Any]] = [
            {"type": "image_url", "image_url": {"url": image_url(Path(p))}} for p in message.images
        ]
        if message.content:
            parts.append({"type": "text", "text": message.content})
        wired.append({"role": message.role, "content": parts})
    return wired


def explain(err: BaseException, remote: Remote, model: str) -> str:
    """What went wrong talking to `remote`, said so that the user knows what to do."""
    import openai

    where = f"{remote.name} ({remote.base_url})"
    detail = _server_says(err)
    if isinstance(err, openai.APITimeoutError):
        return f"{where} did not answer within {remote.timeout_s:g} s"
    if isinstance(err, openai.APIConnectionError):
        cause = err.__cause__ or err.__context__
        text = f"{cause}".lower()
        if "offline" in text:
            return f"{where} cannot be reached: the app is offline and {remote.host} is not listed"
        if any(w in text for w in LOOKUP_FAILED):
            return f"{where} cannot be reached: no computer is called {remote.host!r}"
        if "refused" in text:
            return f"{where} refused the connection: is the server running on that port?"
        return f"{where} cannot be reached ({cause or err})"
    if isinstance(err, openai.AuthenticationError):
        return (
            f"{where} did not accept the API key (401): set the right key in Settings → "
            "Remote servers"
        )
    if isinstance(err, openai.PermissionDeniedError):
        return f"{where} does not allow this key to use {model or 'the model'} (403){detail}"
    if isinstance(err, openai.NotFoundError):
        return f"{where} has no model {model!r} (404){detail}: pick one it serves"
    if isinstance(err, openai.RateLimitError):
        return f"{where} is busy or over its limit (429){detail}: try again in a moment"
    if isinstance(err, openai.BadRequestError):
        return f"{where} refused the request (400){detail}"
    if isinstance(err, openai.APIStatusError):
        return f"{where} failed ({err.status_code}){detail}: the server's log says why"
    return f"{where} failed: {err}"


def _server_says(err: BaseException) -> str:
    body = getattr(err, "body", None)
    message = body.get("message") if isinstance(body, dict) else None
    if message is None and isinstance(body, dict) and isinstance(body.get("error"), dict):
        message = body["error"].get("message")
    return f": {str(message)[:200]}" if message else ""


def new_client(remote: Remote, api_key: str) -> Any:
    """An `openai` client for the server."""
    import openai

    return openai.OpenAI(
        base_url=remote.base_url,
        api_key=api_key or "none",  # servers without keys ignore it
        timeout=remote.timeout_s,
        max_retries=0,  # a failure is reported at once; the user decides to retry
    )


def connect(
    remote: Remote, api_key: str, wanted: str, what: str = "model"
) -> tuple[Any, list[str]]:
    """A client and the models the server lists (`/v1/models`), `wanted` among them when
    given; `ModelError` saying why not (the client closed again). Connecting is what lets
    the offline guard through to the server (`offline.allow_host`)."""
    from desktop_assistant.core import offline

    offline.allow_host(remote.host)
    client = new_client(remote, api_key)
    try:
        served = [m.id for m in client.models.list()]
    except Exception as err:
        client.close()
        raise ModelError(explain(err, remote, wanted)) from err
    if not served:
        client.close()
        raise ModelError(f"{remote.name} serves no model")
    if wanted and wanted not in served:
        client.close()
        raise ModelError(
            f"{remote.name} has no {what} {wanted!r}; it serves: " + ", ".join(served[:10])
        )
    return client, served


class RemoteChatEngine:
    """A `ChatEngine` over an OpenAI-compatible server."""

    reads_images = True  # sent as data URLs; a text-only model's server says it refuses them

    def __init__(self, remote: Remote, api_key: str = "") -> None:
        self.remote = remote
        self._api_key = api_key
        self._model = remote.model
        self._client: Any = None
        self._loaded = False
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self.models: list[str] = []

    @property
    def name(self) -> str:
        return f"{self._model or 'model'} on {self.remote.name}"

    @property
    def is_loaded(self) -> bool:
        return self._loaded

    @property
    def precision(self) -> str:
        return "remote"

    @property
    def model(self) -> str:
        return self._model

    def _new_client(self) -> Any:
        return new_client(self.remote, self._api_key)

    def load(self, progress: ProgressCallback | None = None) -> None:
        """Connect and check the model: the server lists its models (`/v1/models`); with
        none configured, the first one is used."""
        if progress:
            progress(f"Connecting to {self.remote.name} ({self.remote.host})…")
        client, self.models = connect(self.remote, self._api_key, self._model)
        self._model = self._model or self.models[0]
        self._client = client
        self._loaded = True

    def generate(
        self, messages: Sequence[Message], options: GenerationOptions, on_text: TextCallback
    ) -> Reply:
        if not self._loaded:
            raise ModelError(f"{self.remote.name} is not connected")
        request: dict[str, Any] = {
            "model": self._model,
            "messages": wire_messages(messages),
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": options.max_new_tokens,
            "temperature": options.temperature,
            "top_p": options.top_p,
        }
        if options.seed is not None:
            request["seed"] = options.seed
        with self._lock:
            self._cancel.clear()
            if self._client is None:  # closed to cut the last request short
                self._client = self._new_client()
            client = self._client
        events: queue.Queue[tuple[str, Any]] = queue.Queue()
        started = time.perf_counter()
        reader = threading.Thread(
            target=self._read, args=(client, request, events), name="remote-answer", daemon=True
        )
        reader.start()
        first, pieces, usage, finished, failure = 0.0, [], None, False, None
        while not self._cancel.is_set():
            try:
                kind, value = events.get(timeout=0.05)
            except queue.Empty:
                continue
            if kind == "piece":
                first = first or time.perf_counter()
                pieces.append(value)
                on_text(value)
            elif kind == "usage":
                usage = value
            elif kind == "finished":
                finished = True
            elif kind == "failed":
                failure = value
            else:  # "end"
                break
        stopped = self._cancel.is_set()
        if stopped:
            self._cut(client)  # the reader, maybe still waiting on the server, gives up
        elif failure is not None or not finished:
            self._cut(client)  # its connection may be half closed: a new one next time
            if pieces:  # the answer began: keep it, say it was cut
                why = type(failure).__name__ if failure else "the connection closed first"
                raise AnswerInterrupted(
                    f"{self.remote.name} stopped sending in the middle of the answer ({why}); "
                    "what came is kept"
                ) from failure
            if failure is not None:
                raise ModelError(explain(failure, self.remote, self._model)) from failure
            raise ModelError(f"{self.remote.name} closed the connection without an answer")
        return Reply("".join(pieces), self._stats(started, first, pieces, usage, stopped))

    def _read(self, client: Any, request: dict[str, Any], events: queue.Queue) -> None:
        """On its own thread: the request and its stream, as events on `events`. Reading
        blocks in the HTTP library, which another thread cannot always interrupt; this way
        Stop never waits for the server."""
        stream = None
        try:
            stream = client.chat.completions.create(**request)
            for chunk in stream:
                if getattr(chunk, "usage", None):
                    events.put(("usage", chunk.usage))
                if not chunk.choices:
                    continue
                delta = chunk.choices[0].delta.content
                if delta:
                    events.put(("piece", delta))
                if chunk.choices[0].finish_reason:
                    events.put(("finished", chunk.choices[0].finish_reason))
        except Exception as err:
            events.put(("failed", err))
        finally:
            events.put(("end", None))
            if stream is not None:
                with contextlib.suppress(Exception):
                    stream.close()

    def _cut(self, client: Any) -> None:
        """Close `client` (a new one is made for the next answer)."""
        with self._lock:
            if self._client is client:
                self._client = None
        with contextlib.suppress(Exception):  # closing may race with the reader's own close
            client.close()

    def _stats(
        self, started: float, first: float, pieces: list[str], usage: Any, stopped: bool
    ) -> ReplyStats:
        end = time.perf_counter()
        new = getattr(usage, "completion_tokens", None) or len(pieces)  # a piece is ~a token
        prompt = getattr(usage, "prompt_tokens", None) or 0
        decode = (new - 1) / (end - first) if first and new > 1 and end > first else 0.0
        return ReplyStats(
            prompt_tokens=prompt,
            new_tokens=new,
            ttft_s=(first - started) if first else end - started,
            decode_tok_s=decode,
            total_s=end - started,
            stopped=stopped,
            precision="remote",
        )

    def cancel(self) -> None:
        """Stop the answer now: `generate` returns within 50 ms, whatever the server does."""
        self._cancel.set()

    def unload(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        self._loaded = False
        if client is not None:
            client.close()
