"""Each fake in tests/ implements the Protocol it stands for, member by member, with the same
parameters, and so do the real engines: a Protocol change that a fake misses fails here,
not in the window."""

from __future__ import annotations

import inspect

import pytest

from desktop_assistant.audio.capture import InputStream
from desktop_assistant.inference.base import LocalEngine
from desktop_assistant.inference.causal_lm import CausalLMEngine
from desktop_assistant.inference.engine import ChatEngine
from desktop_assistant.inference.speech import SpeechToText, WhisperEngine
from desktop_assistant.inference.vision import VisionChatEngine
from tests.fakes import FakeChatEngine, FakeSpeechEngine
from tests.fakes_audio import FakeInputStream


def _members(protocol: type) -> dict[str, object]:
    names = getattr(protocol, "__protocol_attrs__", None) or {
        n for n in vars(protocol) if not n.startswith("_")
    }
    return {n: inspect.getattr_static(protocol, n, None) for n in sorted(names)}


def _parameters(function: object) -> list[tuple[str, object]]:
    return [(p.name, p.kind) for p in inspect.signature(function).parameters.values()]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("implementation", "protocol"),
    [
        (FakeChatEngine, ChatEngine),
        (CausalLMEngine, ChatEngine),
        (VisionChatEngine, ChatEngine),
        (FakeSpeechEngine, SpeechToText),
        (WhisperEngine, SpeechToText),
        (FakeInputStream, InputStream),
    ],
)
def test_implements_its_protocol_member_by_member(implementation, protocol):
    members = _members(protocol)
    assert members
    for name, member in members.items():
        if member is None:  # a plain annotation: an attribute set in __init__
            continue
        mine = inspect.getattr_static(implementation, name, None)
        assert mine is not None, f"{implementation.__name__} lacks {name}"
        if isinstance(member, property):
            assert isinstance(mine, property), f"{implementation.__name__}.{name} is no property"
        elif callable(member):
            assert _parameters(mine) == _parameters(member), f"{implementation.__name__}.{name}"


def test_the_real_engines_share_one_base():
    for engine in (CausalLMEngine, VisionChatEngine, WhisperEngine):
        assert issubclass(engine, LocalEngine)
