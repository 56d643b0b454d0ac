"""The voice-command grammar, on text."""

from __future__ import annotations

import json

import pytest

from desktop_assistant.core.commands import (
    INTENTS,
    PATTERNS,
    PHRASES,
    Command,
    is_destructive,
    parse_command,
)
from tests.fakes_audio import SPEECH_DEV

EXAMPLES: list[tuple[str, str, dict]] = [
    ("new chat", "new_chat", {}),
    ("Start a fresh conversation.", "new_chat", {}),
    ("open a new chat please", "new_chat", {}),
    ("Stop!", "stop", {}),
    ("stop talking", "stop", {}),
    ("Send.", "send", {}),
    ("send the message", "send", {}),
    ("Read that again.", "read_aloud", {}),
    ("read the last answer out loud", "read_aloud", {}),
    ("Regenerate the answer.", "regenerate", {}),
    ("re-generate", "regenerate", {}),
    ("try again", "regenerate", {}),
    ("Delete this conversation.", "delete_conversation", {}),
    ("delete the chat", "delete_conversation", {}),
    ("Rename this chat to holiday plans.", "rename_conversation", {"name": "holiday plans"}),
    ("rename it to Paris trip", "rename_conversation", {"name": "paris trip"}),
    ("Go to the previous chat.", "previous_conversation", {}),
    ("previous conversation", "previous_conversation", {}),
    ("Next conversation.", "next_conversation", {}),
    ("go to the next chat", "next_conversation", {}),
    ("Search my chats for pasta.", "search_chats", {"query": "pasta"}),
    ("search my chat for pasta", "search_chats", {"query": "pasta"}),
    ("find the conversation about taxes", "search_chats", {"query": "taxes"}),
    ("Attach an image.", "attach_image", {}),
    ("add a photo", "attach_image", {}),
    ("Clear the image.", "clear_images", {}),
    ("remove all the pictures", "clear_images", {}),
    ("Copy the last answer.", "copy_last_answer", {}),
    ("copy that", "copy_last_answer", {}),
    ("Scroll up.", "scroll_up", {}),
    ("scroll down a bit", "scroll_down", {}),
    ("Switch to dark mode.", "set_theme", {"theme": "dark"}),
    ("switch to Light Mode", "set_theme", {"theme": "light"}),
    ("darkmode", "set_theme", {"theme": "dark"}),
    ("night mode", "set_theme", {"theme": "dark"}),
    ("Zoom in.", "zoom_in", {}),
    ("make the text bigger", "zoom_in", {}),
    ("zoom out", "zoom_out", {}),
    ("Make the text smaller.", "zoom_out", {}),
    ("Open settings.", "open_settings", {}),
    ("show me the preferences", "open_settings", {}),
    ("Turn off voice replies.", "set_auto_read", {"enabled": False}),
    ("turn on auto-read", "set_auto_read", {"enabled": True}),
    ("disable reading aloud", "set_auto_read", {"enabled": False}),
    ("Yes.", "confirm", {}),
    ("yes, delete it", "confirm", {}),
    ("OK.", "confirm", {}),
    ("Cancel.", "cancel", {}),
    ("Nevermind.", "cancel", {}),
    ("never mind", "cancel", {}),
    ("no thanks", "cancel", {}),
]


@pytest.mark.parametrize("text, intent, slots", EXAMPLES)
def test_examples(text, intent, slots):
    assert parse_command(text) == Command(intent, slots)


def test_every_intent_has_patterns_examples_and_phrases():
    assert set(PATTERNS) == set(INTENTS)
    assert {intent for _, intent, _ in EXAMPLES} == set(INTENTS)
    for intent, phrases in PHRASES.items():
        for phrase in phrases:
            command = parse_command(phrase)
            assert command is not None and command.intent == intent, phrase


@pytest.mark.parametrize(
    "text, intent",
    [
        ("Uh, can you scroll down please?", "scroll_down"),
        ("um stop", "stop"),
        ("Okay, could you please open the settings, thanks.", "open_settings"),
        ("hey assistant, new chat", "new_chat"),
        ("I'd like to start a new conversation", "new_chat"),
        ("So... zoom in, please!", "zoom_in"),
        ("  SEND  ", "send"),
        ("“Cancel”", "cancel"),
    ],
)
def test_fillers_case_and_punctuation(text, intent):
    command = parse_command(text)
    assert command is not None and command.intent == intent


@pytest.mark.parametrize(
    "text",
    [
        "I think the stop sign was red",
        "Why do buses stop at every corner?",
        "send me a recipe for pasta",
        "What is a new chat application I could build?",
        "Can you explain how dark mode saves battery?",
        "search for pasta recipes",
        "Read me a poem about the sea",
        "copy this paragraph into French",
        "yes I agree that the sky is blue and the grass is green and more",
        "scroll",
        "please",
        "uh",
        "",
        "   ",
        "...",
    ],
)
def test_dictation_is_not_a_command(text):
    assert parse_command(text) is None


def test_destructive():
    assert is_destructive("delete_conversation")
    assert not any(is_destructive(i) for i in INTENTS if i != "delete_conversation")


def test_manifest_transcripts():
    """Every spoken command of the speech-dev set maps to its intent and slots; dictation
    and silence map to None."""
    entries = [
        json.loads(line) for line in (SPEECH_DEV / "manifest.jsonl").read_text().splitlines()
    ]
    assert entries
    for entry in entries:
        command = parse_command(entry["text"])
        if entry["intent"]:
            assert command == Command(entry["intent"], entry.get("slots", {})), entry["text"]
        else:
            assert command is None, entry["text"]


def test_a_snapped_command_is_asked_about_and_dictation_stays_dictation():
    from desktop_assistant.core.commands import Heard, understand

    assert understand("Go to the next chat.") == Heard(Command("next_conversation"), ask=False)
    assert understand("Go to the next chat.", snapped=True).ask
    assert understand("I think the stop sign was red", snapped=True) == Heard(None, ask=False)
