"""WhisperEngine plumbing on a tiny random Whisper (words are random; types, events and
silence handling are not)."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from desktop_assistant.audio.files import SAMPLE_RATE, decode_file
from desktop_assistant.core.errors import ModelError, UserError
from desktop_assistant.inference.speech import (
    SpeechToText,
    Transcript,
    WhisperEngine,
    command_context,
    find_cut,
)
from tests.fakes_audio import SPEECH_DEV


@pytest.fixture
def engine(tiny_whisper_engine):
    return tiny_whisper_engine


@pytest.fixture(scope="module")
def long_speech() -> np.ndarray:
    """65 s of speech: the dictation clips one after another."""
    clips = sorted(SPEECH_DEV.glob("dict*.wav")) * 2
    audio = np.concatenate([decode_file(c) for c in clips])
    return audio[: 65 * SAMPLE_RATE]


def test_is_a_speech_to_text_engine(engine):
    assert isinstance(engine, SpeechToText)
    assert engine.is_loaded and engine.precision in ("int8", "fp32")
    assert engine.name.startswith("tiny-whisper")


def test_transcribe_returns_a_transcript(engine):
    audio = decode_file(SPEECH_DEV / "cmd05_dark_mode.wav")
    transcript = engine.transcribe(audio)
    assert isinstance(transcript, Transcript)
    assert isinstance(transcript.text, str)
    assert transcript.language == "en"
    assert transcript.audio_s == pytest.approx(len(audio) / SAMPLE_RATE)
    assert transcript.processing_s > 0 and transcript.windows == 1
    assert not transcript.cancelled
    assert 0.0 <= transcript.no_speech_prob <= 1.0


@pytest.mark.parametrize("name", ["neg01_silence_3s.wav", "neg02_pink_noise_3s.wav"])
def test_silence_and_noise_give_empty_text_without_decoding(engine, name):
    transcript = engine.transcribe(decode_file(SPEECH_DEV / name))
    assert transcript.text == "" and transcript.windows == 0


def test_empty_and_tiny_audio(engine):
    assert engine.transcribe(np.zeros(0, np.float32)).text == ""
    assert engine.transcribe(np.zeros(100, np.float32)).text == ""


def test_long_audio_in_windows_with_progress(engine, long_speech):
    progress: list[tuple[float, float]] = []
    transcript = engine.transcribe(long_speech, lambda done, total: progress.append((done, total)))
    assert transcript.windows == 3  # 65 s: at most 30 s each
    assert len(progress) == 3
    assert [total for _, total in progress] == [pytest.approx(65.0)] * 3
    done = [d for d, _ in progress]
    assert done == sorted(done) and done[-1] == pytest.approx(65.0, abs=0.5)
    assert 25 <= done[0] <= 30  # cut at a quiet moment in the window's last 5 s


def test_cancel_stops_between_windows_and_within_one(engine, long_speech):
    def cancel_after_first(done: float, total: float) -> None:
        engine.cancel()

    transcript = engine.transcribe(long_speech, cancel_after_first)
    assert transcript.cancelled and transcript.windows == 2

    first_window = threading.Event()  # cancel from another thread, mid-decode
    canceller = threading.Thread(target=lambda: first_window.wait(10) and engine.cancel())
    canceller.start()
    transcript = engine.transcribe(long_speech, lambda done, total: first_window.set())
    canceller.join()
    assert transcript.cancelled and transcript.windows in (2, 3)
    assert not engine.transcribe(decode_file(SPEECH_DEV / "cmd02_stop.wav")).cancelled


def test_partial_decodes_the_growing_buffer(engine, long_speech):
    transcript = engine.partial(long_speech[: 3 * SAMPLE_RATE])
    assert isinstance(transcript.text, str) and transcript.windows == 1
    transcript = engine.partial(long_speech)  # only the last 30 s
    assert transcript.windows == 1


def test_find_cut_prefers_silence():
    audio = np.random.default_rng(0).normal(0, 0.1, 40 * SAMPLE_RATE).astype(np.float32)
    audio[27 * SAMPLE_RATE : int(27.3 * SAMPLE_RATE)] = 0
    cut = find_cut(audio, 0, 30 * SAMPLE_RATE)
    assert 27 * SAMPLE_RATE <= cut <= int(27.3 * SAMPLE_RATE)
    assert find_cut(audio, 20 * SAMPLE_RATE, 30 * SAMPLE_RATE) == len(audio)


def test_command_context_lists_every_intent_once():
    text = command_context()
    assert text.startswith("Voice commands: ") and "new chat" in text and "cancel" in text
    # the commands with a slot, by their opening words
    assert "search my chats for …" in text and "rename this chat to …" in text


def test_int8_kinds_by_layer(tiny_whisper_dir):
    """Dynamic int8 for the encoder, the cross-attention keys/values and the output
    projection; weight-only int8 (fp32-like activations) for the decoder's per-token layers."""
    import torch
    from transformers import WhisperForConditionalGeneration

    from desktop_assistant.inference.quantize import DynamicInt8Linear, Int8Linear
    from desktop_assistant.inference.speech import quantize_linears

    model = WhisperForConditionalGeneration.from_pretrained(tiny_whisper_dir).eval()
    features = torch.randn(1, model.config.num_mel_bins, 2 * model.config.max_source_positions)
    ids = torch.tensor([[model.config.decoder_start_token_id, 5, 6, 7]])
    with torch.inference_mode():
        want = model(input_features=features, decoder_input_ids=ids).logits
        quantize_linears(model)
        got = model(input_features=features, decoder_input_ids=ids).logits
    layer = model.model.decoder.layers[0]
    assert isinstance(model.model.encoder.layers[0].fc1, DynamicInt8Linear)
    assert isinstance(layer.encoder_attn.k_proj, DynamicInt8Linear)
    assert isinstance(model.proj_out, DynamicInt8Linear)
    for linear in (layer.self_attn.q_proj, layer.encoder_attn.q_proj, layer.fc1, layer.fc2):
        assert isinstance(linear, Int8Linear)
    assert not any(isinstance(m, torch.nn.Linear) for m in model.modules())
    assert torch.nn.functional.cosine_similarity(got.flatten(), want.flatten(), dim=0) > 0.99


def test_fixed_and_unknown_language(tiny_whisper_dir):
    engine = WhisperEngine(tiny_whisper_dir, language="fr", use_vad=False)
    engine.load()
    assert engine.transcribe(decode_file(SPEECH_DEV / "cmd02_stop.wav")).language == "fr"
    with pytest.raises(UserError, match="unknown language code"):
        WhisperEngine(tiny_whisper_dir, language="xx").load()


def test_auto_language_is_detected(tiny_whisper_dir):
    engine = WhisperEngine(tiny_whisper_dir, language="auto", precision="fp32")
    engine.load()
    assert engine.precision == "fp32"
    transcript = engine.transcribe(decode_file(SPEECH_DEV / "cmd02_stop.wav"))
    assert len(transcript.language) in (2, 3, 5)  # a code such as en, haw or yue


def test_auto_language_starts_from_the_prior_and_learns_from_long_speech(
    tiny_whisper_dir, monkeypatch
):
    from desktop_assistant.inference import language

    engine = WhisperEngine(tiny_whisper_dir, language="auto", language_prior="fr")
    engine.load()
    seen = []
    choose = engine.spoken.choose

    def spy(probs, speech_s, learn=True):
        seen.append((len(probs), round(sum(probs.values()), 3), speech_s, learn))
        return choose(probs, speech_s, learn)

    monkeypatch.setattr(engine.spoken, "choose", spy)
    short = decode_file(SPEECH_DEV / "cmd02_stop.wav")
    transcript = engine.transcribe(short)
    assert transcript.language == "fr" and transcript.remembered_language == ""
    assert seen[0][0] == len(engine._tokens.languages) and seen[0][1] == 1.0  # probabilities
    assert seen[0][2] < language.CONFIDENT_S and seen[0][3] is True
    engine.partial(short)
    assert seen[-1][3] is False  # partial decodes learn nothing
    monkeypatch.setattr(language, "CONFIDENT_P", 0.0)  # any detection of long speech is sure
    long = np.concatenate(
        [decode_file(SPEECH_DEV / f) for f in sorted(SPEECH_DEV.glob("dict*"))[:2]]
    )
    learned = engine.transcribe(long)
    assert learned.remembered_language == learned.language != ""


def test_folder_errors(tmp_path, tiny_chat_dir):
    with pytest.raises(ModelError, match="not found"):
        WhisperEngine(tmp_path / "missing").load()
    with pytest.raises(ModelError, match="not a Whisper speech model"):
        WhisperEngine(tiny_chat_dir).load()
    with pytest.raises(ModelError, match="not loaded"):
        WhisperEngine(tmp_path).transcribe(np.zeros(SAMPLE_RATE, np.float32))


def test_no_preprocessor_config(tmp_path, tiny_whisper_dir):
    import shutil

    folder = tmp_path / "whisper"
    shutil.copytree(tiny_whisper_dir, folder)
    for name in ("preprocessor_config.json", "processor_config.json"):
        (folder / name).unlink(missing_ok=True)
    with pytest.raises(ModelError, match="preprocessor_config.json"):
        WhisperEngine(folder).load()
    assert json.loads((folder / "config.json").read_text())["model_type"] == "whisper"
