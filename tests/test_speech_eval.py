"""How eval speech scores words (real-speech's README rules)."""

from __future__ import annotations

from desktop_assistant.cli.speech_eval import normalize, word_errors


def test_normalize_follows_the_real_speech_rules():
    assert normalize("Uh, so Mr. Dashwood - um - said 42 things.") == [
        "so", "mister", "dashwood", "said", "forty", "two", "things",
    ]  # fmt: skip
    assert normalize("HE BEGAN A CONFUSED COMPLAINT") == [
        "he",
        "began",
        "a",
        "confused",
        "complaint",
    ]
    assert normalize("“It’s 7 o’clock”") == ["it's", "seven", "o'clock"]


def test_word_errors():
    assert word_errors(["seven", "of", "clubs"], ["sevenf", "clubs"]) == 2
    assert word_errors([], ["a"]) == 1 and word_errors(["a"], []) == 1


def test_eval_speech_counts_as_the_window_takes_it(tmp_path, monkeypatch):
    """A "yes" nobody asked for is words, not a false command; a wrong intent is counted."""
    import json

    from desktop_assistant.cli import speech_eval
    from tests.fakes import FakeSpeechEngine
    from tests.fakes_audio import SPEECH_DEV

    class Engine(FakeSpeechEngine):
        precision, language, encoder_s, beam_size = "int8", "auto", 6.0, 5

    engine = Engine(["Yes.", "Go to the next chat.", "Stop.", "I think the stop sign was red"])
    monkeypatch.setattr(speech_eval, "make_engine", lambda *args, **kwargs: engine)
    clip = str(SPEECH_DEV / "cmd02_stop.wav")
    entries = [
        {"file": clip, "text": "yes", "kind": "dictation", "intent": None},
        {"file": clip, "text": "go ahead", "kind": "command", "intent": "confirm"},
        {"file": clip, "text": "stop", "kind": "command", "intent": "stop"},
        {"file": clip, "text": "I think the stop sign was red", "kind": "dictation"},
    ]
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("\n".join(json.dumps(e) for e in entries))
    result = speech_eval.eval_speech("fake", str(manifest))
    assert result["false_commands"] == 0 and result["wrong_commands"] == 1
    assert result["command_clips"] == 2 and result["intent_accuracy"] == 0.5
    assert result["wer"] > 0 and result["asked_right"] == result["asked_wrong"] == 0
