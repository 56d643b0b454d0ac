"""Commands understood by their concepts (core/frames.py), and the paraphrase set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from desktop_assistant import cli
from desktop_assistant.cli.speech_eval import eval_intents, in_split
from desktop_assistant.core.commands import INTENTS, Command, clean, parse_command
from desktop_assistant.core.frames import concepts, frame_slots, match_frame

SAYINGS = Path(__file__).parents[2] / "benchmarks" / "intents" / "sayings.json"
SAYINGS_2 = SAYINGS.with_name("sayings-2.json")  # held out as a whole


@pytest.mark.parametrize(
    "text, intent, slots",
    [
        ("get rid of this chat", "delete_conversation", {}),
        ("bin this conversation", "delete_conversation", {}),
        ("throw the chat away", "delete_conversation", {}),
        ("delete the full conversation", "delete_conversation", {}),  # Whisper's "whole"
        ("take the photos off", "clear_images", {}),
        ("text size up", "zoom_in", {}),
        ("make the letters larger", "zoom_in", {}),
        ("take me to the next chat", "next_conversation", {}),
        ("return to the previous conversation", "previous_conversation", {}),
        ("go dark", "set_theme", {"theme": "dark"}),
        ("make the app light", "set_theme", {"theme": "light"}),
        ("no more voice replies", "set_auto_read", {"enabled": False}),
        ("voice replies on", "set_auto_read", {"enabled": True}),
        ("read your answer", "read_aloud", {}),
        ("rewrite your answer", "regenerate", {}),
        ("put the reply on the clipboard", "copy_last_answer", {}),
        ("configure the app", "open_settings", {}),
        ("down a little", "scroll_down", {}),
        ("make it dark again", "set_theme", {"theme": "dark"}),
        ("stop speaking your answers", "set_auto_read", {"enabled": False}),
        ("can we start a new chat", "new_chat", {}),
        ("give this chat the name travel", "rename_conversation", {"name": "travel"}),
    ],
)
def test_sayings_the_grammar_does_not_list(text, intent, slots):
    assert parse_command(text) == Command(intent, slots)


@pytest.mark.parametrize(
    "text",
    [
        # one word is too little to act on
        "dark",
        "light",
        "higher",
        "bigger",
        "bigger please",
        "down there",
        "say",
        "tell me",
        "up",
        "the end",
        "white",
        # a word that means nothing to the app makes it dictation
        "how do I copy a file in Linux",
        "delete my account",
        "remove the last line",
        "copy the code",
        "turn off the lights",
        "switch to French",
        "dark chocolate",
        "start the car",
        "stop the timer",
        "open a new tab",
        "next slide",
        "previous page",
        "go to the next page",
        "make it shorter",
        "make the answer shorter",
        "read the answer in French",
        "show me a picture of a cat",
        "the picture is upside down",
        "tell me about the last chat we had",
        "what are my options",
        "lower the price",
        "add a picture of a cat to the story",
        "change the subject",
        "another question",
        "make it full screen",
        "the full answer please",
    ],
)
def test_dictation_with_command_words_stays_dictation(text):
    assert parse_command(text) is None


def test_a_word_unknown_to_the_app_ends_the_reading():
    assert concepts("delete this chat") is not None
    assert concepts("delete this essay") is None


def test_two_fitting_frames_are_no_command():
    # "stop" may be STOP or OFF and "reading" TALKING or VOICE: stop, or auto-read off?
    assert match_frame(clean("please stop this reading")) is None


def test_slots_must_be_told_apart():
    """A theme or a read-aloud state the words do not settle is no command."""
    assert match_frame(clean("dark light mode")) is None
    assert match_frame(clean("dark and light mode")) is None
    assert match_frame(clean("turn voice replies")) is None
    assert match_frame(clean("turn on voice replies off")) is None
    intent, reading = match_frame(clean("stop reading answers aloud"))
    assert frame_slots(intent, reading) == {"enabled": False}
    assert frame_slots(*match_frame(clean("go dark"))) == {"theme": "dark"}


def _sayings() -> dict:
    return json.loads(SAYINGS.read_text(encoding="utf-8"))


def test_the_paraphrase_set_covers_every_intent():
    data = _sayings()
    assert set(data["commands"]) == set(INTENTS)
    for intent, says in data["commands"].items():
        texts = [s if isinstance(s, str) else s["text"] for s in says]
        assert len(set(texts)) >= 10, intent
    assert len(set(data["dictation"])) >= 40
    assert in_split(0, "tune") and in_split(1, "held-out") and not in_split(1, "tune")


@pytest.mark.parametrize("split", ["tune", "held-out"])
def test_no_wrong_or_false_command_on_either_half(split):
    result = eval_intents(SAYINGS, split)
    assert result["wrong_commands"] == [] and result["false_commands"] == []
    assert result["commands"] == 132 and result["dictation"] == 28
    assert result["slots_right"] == result["intents_right"]


def test_no_wrong_or_false_command_on_the_second_set():
    result = eval_intents(SAYINGS_2, "all")
    assert result["wrong_commands"] == [] and result["false_commands"] == []
    assert result["commands"] == 132 and result["dictation"] == 20


def test_the_tuning_half_is_understood():
    assert eval_intents(SAYINGS, "tune")["intent_accuracy"] >= 0.95


def test_eval_intents_counts(tmp_path, capsys):
    path = tmp_path / "s.json"
    path.write_text(
        json.dumps(
            {
                "commands": {
                    "stop": ["stop", "halt", "cease and desist now", "stop it"],
                    "set_theme": [{"text": "dark mode", "slots": {"theme": "light"}}],
                },
                "dictation": ["a", "send", "c", "how do I stop a leak"],
            }
        )
    )
    result = eval_intents(path, "all")
    assert result["commands"] == 5 and result["intents_right"] == 4
    assert result["slots_right"] == 3  # dark mode is not light
    assert result["missed"] == ["stop: cease and desist now"]
    assert result["false_commands"] == ["send -> send"]
    assert eval_intents(path, "held-out")["commands"] == 2
    assert cli.run(["eval", "intents", "--sayings", str(path), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["split"] == "held-out" and printed["intents_right"] == 2


def test_eval_intents_refuses_a_file_that_is_not_sayings(tmp_path, capsys):
    path = tmp_path / "s.json"
    path.write_text("[1, 2]")
    assert cli.run(["eval", "intents", "--sayings", str(path)]) != 0
    assert "not a sayings file" in capsys.readouterr().err
