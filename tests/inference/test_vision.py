"""VisionChatEngine on a tiny random Idefics3 (SmolVLM's architecture), loaded as users load one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from desktop_assistant.core.conversation import Message
from desktop_assistant.core.errors import UserError
from desktop_assistant.inference import vision_inputs
from desktop_assistant.inference.causal_lm import CausalLMEngine
from desktop_assistant.inference.engine import ChatEngine
from desktop_assistant.inference.factory import is_vision_model, open_engine
from desktop_assistant.inference.options import GenerationOptions
from desktop_assistant.inference.vision import VisionChatEngine

GREEDY = GenerationOptions(max_new_tokens=12, temperature=0)
HIGH = GenerationOptions(max_new_tokens=12, temperature=0, high_detail=True)
PER_TILE = 16  # the tiny model's image tokens per tile


def _picture(path: Path, width: int, height: int, seed: int) -> Path:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


@pytest.fixture(scope="module")
def pictures(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("pictures")
    return {
        "photo": _picture(folder / "photo.png", 120, 90, 0),
        "other": _picture(folder / "other.png", 120, 90, 1),  # same size: same tile grid
        "tall": _picture(folder / "tall.jpg", 50, 200, 2),
    }


@pytest.fixture(scope="module")
def vlm(tiny_vlm_dir):
    engine = VisionChatEngine(tiny_vlm_dir)
    engine.load()
    yield engine
    engine.unload()


def _ask(picture: Path, text: str = "What is in this picture?") -> list[Message]:
    return [Message("user", text, (picture,))]


def test_is_a_chat_engine_and_open_engine_picks_it(vlm, tiny_vlm_dir, tiny_chat_dir):
    assert isinstance(vlm, ChatEngine)
    assert vlm.is_loaded and vlm.precision == "int8" and vlm.vision_precision in ("bf16", "fp32")
    assert isinstance(open_engine(tiny_vlm_dir), VisionChatEngine)
    assert isinstance(open_engine(tiny_chat_dir, "bf16", 1), CausalLMEngine)
    assert is_vision_model(tiny_vlm_dir) and not is_vision_model(tiny_chat_dir)
    assert not is_vision_model(tiny_chat_dir / "no-such-folder")


def test_answers_about_a_picture_and_reports_stats(vlm, pictures):
    vlm.reset_cache()
    chunks: list[str] = []
    reply = vlm.generate(_ask(pictures["photo"]), GREEDY, chunks.append)
    assert isinstance(reply.text, str) and "".join(chunks) == reply.text and len(chunks) >= 2
    s = reply.stats
    assert s.new_tokens == GREEDY.max_new_tokens  # the fixture never emits end-of-turn
    assert s.image_tokens == PER_TILE  # one tile at default detail
    assert s.prompt_tokens > s.image_tokens
    assert s.cached_tokens == 0 and not s.stopped and s.precision == "int8"
    assert s.preprocess_s > 0 and s.vision_s > 0
    assert s.preprocess_s + s.vision_s <= s.ttft_s <= s.total_s
    assert s.decode_tok_s > 0


def test_two_pictures_and_a_text_only_question(vlm, pictures):
    two = [Message("user", "Compare them", (pictures["photo"], pictures["tall"]))]
    assert vlm.generate(two, GREEDY, lambda t: None).stats.image_tokens == 2 * PER_TILE
    plain = vlm.generate([Message("user", "Hello")], GREEDY, lambda t: None).stats
    assert plain.image_tokens == 0 and plain.vision_s == 0 and plain.new_tokens > 0


@pytest.mark.parametrize("options", [GREEDY, HIGH], ids=["one-tile", "high-detail"])
def test_prompt_and_first_token_match_the_processor_and_model(vlm, tiny_vlm_dir, pictures, options):
    """Our prompt equals the processor's own, and our feature placement and language forward
    (llama_forward) give the next token transformers' forward (pixel_values in,
    masked_scatter) gives."""
    import torch

    reference_engine = VisionChatEngine(tiny_vlm_dir, own_forward=False)
    reference_engine.load()
    processor, model = vlm._processor, reference_engine._model
    assert type(vlm._text).__name__ == "LlamaForward"
    messages = _ask(pictures["tall"])
    image = Image.open(pictures["tall"]).convert("RGB")
    text = vision_inputs.render(processor, messages)
    reference = processor(
        text=text,
        images=[image],
        return_tensors="pt",
        **vision_inputs.image_options(processor, image.size, options.high_detail),
    )
    store = vision_inputs.Pictures()
    prompt = vision_inputs.build_prompt(processor, store, messages, options.high_detail, 512, 1, {})
    assert prompt.ids == reference["input_ids"][0].tolist()
    with torch.inference_mode():
        logits = model(**reference, logits_to_keep=1).logits[0, -1]
    vlm.reset_cache()
    one = GenerationOptions(max_new_tokens=1, temperature=0, high_detail=options.high_detail)
    reply = vlm.generate(messages, one, lambda t: None)
    expected = processor.tokenizer.decode([int(logits.argmax())], skip_special_tokens=True)
    assert reply.stats.new_tokens == 1 and reply.text == expected


def test_high_detail_gives_more_image_tokens_and_estimates_match(vlm, pictures):
    for name in ("photo", "tall"):
        size = Image.open(pictures[name]).size
        normal = vlm.generate(_ask(pictures[name]), GREEDY, lambda t: None).stats
        high = vlm.generate(_ask(pictures[name]), HIGH, lambda t: None).stats
        assert high.image_tokens > normal.image_tokens == PER_TILE
        assert vlm.estimate_image_tokens(size, False) == normal.image_tokens
        assert vlm.estimate_image_tokens(size, True) == high.image_tokens
    seconds = vlm.estimate_image_seconds([(120, 90)], True)
    assert seconds == pytest.approx(5 * vlm.estimate_image_seconds([(120, 90)], False))
    assert seconds > 0


@pytest.mark.parametrize("precision", ["bf16"])  # int8 decode and prefill differ in last bits
def test_follow_up_reuses_the_picture_and_matches_a_fresh_start(tiny_vlm_dir, pictures, precision):
    engine = VisionChatEngine(tiny_vlm_dir, precision=precision)
    engine.load()
    first = engine.generate(_ask(pictures["photo"]), GREEDY, lambda t: None)
    follow_up = _ask(pictures["photo"]) + [
        Message("assistant", first.text),
        Message("user", "And its colours?"),
    ]
    warm = engine.generate(follow_up, GREEDY, lambda t: None)
    assert warm.stats.cached_tokens >= first.stats.prompt_tokens
    assert warm.stats.vision_s == 0 and warm.stats.image_tokens == PER_TILE
    engine.reset_cache()
    cold = engine.generate(follow_up, GREEDY, lambda t: None)
    assert cold.stats.cached_tokens == 0 and cold.stats.vision_s > 0
    assert warm.text == cold.text


def test_a_new_picture_in_a_follow_up_is_the_only_one_encoded(vlm, pictures):
    vlm.reset_cache()
    first = vlm.generate(_ask(pictures["photo"]), GREEDY, lambda t: None)
    more = _ask(pictures["photo"]) + [
        Message("assistant", first.text),
        Message("user", "And this one?", (pictures["tall"],)),
    ]
    second = vlm.generate(more, GREEDY, lambda t: None).stats
    assert second.cached_tokens >= first.stats.prompt_tokens
    assert second.image_tokens == 2 * PER_TILE and second.vision_s > 0


@pytest.mark.parametrize(("precision", "vision"), [("int4", None), ("fp32", "fp32")])
def test_other_precisions_answer(tiny_vlm_dir, pictures, precision, vision):
    engine = VisionChatEngine(tiny_vlm_dir, precision=precision)
    engine.load()
    reply = engine.generate(_ask(pictures["photo"]), GREEDY, lambda t: None)
    assert reply.stats.new_tokens == GREEDY.max_new_tokens and reply.stats.precision == precision
    assert vision is None or engine.vision_precision == vision


def test_another_picture_with_the_same_tokens_is_encoded_again(vlm, pictures):
    vlm.reset_cache()
    vlm.generate(_ask(pictures["photo"]), GREEDY, lambda t: None)
    swapped = vlm.generate(_ask(pictures["other"]), GREEDY, lambda t: None).stats
    assert swapped.vision_s > 0
    processor = vlm._processor
    prompt = vision_inputs.build_prompt(
        processor, vision_inputs.Pictures(), _ask(pictures["other"]), False, 512, 1, {}
    )
    assert swapped.cached_tokens == prompt.spans[0].start  # reused up to the picture only


def test_stop_while_encoding_runs_no_language_model_step(vlm, pictures):
    vlm.reset_cache()
    steps: list[int] = []
    hooks = [
        vlm._model.model.vision_model.register_forward_hook(lambda *a: vlm.cancel()),
        vlm._text.register_forward_hook(lambda *a: steps.append(1)),
    ]
    try:
        reply = vlm.generate(_ask(pictures["tall"]), HIGH, lambda t: None)
    finally:
        for hook in hooks:
            hook.remove()
    assert reply.stats.stopped and reply.stats.new_tokens == 0 and reply.text == ""
    assert steps == []
    assert not vlm.generate(_ask(pictures["tall"]), GREEDY, lambda t: None).stats.stopped


def test_cancel_stops_within_one_token(vlm, pictures):
    steps: list[int] = []
    hook = vlm._text.register_forward_hook(lambda *args: steps.append(1))
    seen: list[str] = []
    steps_at_cancel: list[int] = []

    def on_text(text: str) -> None:
        assert not steps_at_cancel, "text arrived after Stop"
        seen.append(text)
        if len(seen) == 3:
            steps_at_cancel.append(len(steps))
            vlm.cancel()

    try:
        reply = vlm.generate(
            _ask(pictures["photo"]), GenerationOptions(max_new_tokens=200, temperature=0), on_text
        )
    finally:
        hook.remove()
    assert reply.stats.stopped and reply.stats.new_tokens < 200
    assert steps_at_cancel[0] > 0  # the hook sees the language model's steps
    assert len(steps) == steps_at_cancel[0]  # no model step ran after the cancel


def test_stop_inside_a_picture_then_resume(tiny_vlm_dir, pictures, monkeypatch):
    """A prefill stopped in the middle of a picture's tokens keeps what it computed, and the
    next request finishes that picture with the same result as a fresh start."""
    from desktop_assistant.inference import generation

    monkeypatch.setattr(generation, "PREFILL_CHUNK", 8)
    engine = VisionChatEngine(tiny_vlm_dir, precision="bf16")
    engine.load()
    steps: list[int] = []

    def on_step(*args):
        steps.append(1)
        if len(steps) == 2:
            engine.cancel()

    hook = engine._text.register_forward_hook(on_step)
    try:
        stopped = engine.generate(_ask(pictures["photo"]), GREEDY, lambda t: None)
    finally:
        hook.remove()
    assert stopped.stats.stopped and stopped.stats.new_tokens == 0
    resumed = engine.generate(_ask(pictures["photo"]), GREEDY, lambda t: None)
    # the rest of the picture's tokens from the kept features: not encoded again
    assert resumed.stats.cached_tokens == 16 and resumed.stats.vision_s == 0
    engine.reset_cache()
    assert engine.generate(_ask(pictures["photo"]), GREEDY, lambda t: None).text == resumed.text


def test_text_only_engine_refuses_pictures(tiny_chat_dir, pictures):
    engine = CausalLMEngine(tiny_chat_dir)
    engine.load()
    with pytest.raises(UserError, match="reads text only"):
        engine.generate(_ask(pictures["photo"]), GREEDY, lambda t: None)


def test_a_bad_picture_file_is_an_image_error(vlm, tmp_path):
    from desktop_assistant.core.images import ImageError

    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really a picture")
    with pytest.raises(ImageError):
        vlm.generate(_ask(broken), GREEDY, lambda t: None)
    with pytest.raises(ImageError):
        vlm.generate(_ask(tmp_path / "missing.png"), GREEDY, lambda t: None)


def test_the_image_marker_typed_by_the_user_is_refused(vlm, pictures):
    with pytest.raises(UserError, match="reserves"):
        vlm.generate(_ask(pictures["photo"], "what is <image> here"), GREEDY, lambda t: None)


def _encoder_calls(engine) -> list[int]:
    calls: list[int] = []
    engine._model.model.vision_model.register_forward_hook(lambda *a: calls.append(1))
    return calls


def test_pictures_read_ahead_are_not_encoded_again(tiny_vlm_dir, pictures):
    engine = VisionChatEngine(tiny_vlm_dir)
    engine.load()
    cold = engine.generate(_ask(pictures["photo"]), GREEDY, lambda t: None)
    assert cold.stats.vision_s > 0
    engine.reset_cache()
    calls = _encoder_calls(engine)
    both = [pictures["photo"], pictures["tall"]]
    assert engine.prepare_pictures(both, False) == both
    assert len(calls) == 2  # one tile each
    assert engine.prepare_pictures([pictures["photo"]], False) == [pictures["photo"]]
    assert len(calls) == 2  # kept: not read again
    ahead = engine.generate(_ask(pictures["photo"]), GREEDY, lambda t: None)
    assert len(calls) == 2 and ahead.stats.vision_s == 0
    assert ahead.stats.image_tokens == PER_TILE
    assert ahead.stats.cached_tokens == 0  # the KV cache was cold; only the features were kept
    assert ahead.text == cold.text
    # another detail is another reading
    high = engine.generate(_ask(pictures["tall"]), HIGH, lambda t: None)
    assert high.stats.vision_s > 0 and len(calls) == 2 + 5
    engine.reset_cache()
    assert engine.prepare_pictures(both, True) == both
    encoded = len(calls)
    compare = [Message("user", "Compare them.", tuple(both))]
    assert engine.generate(compare, HIGH, lambda t: None).stats.vision_s == 0
    assert len(calls) == encoded


def test_reading_ahead_skips_bad_files_and_stops_when_cancelled(vlm, pictures, tmp_path):
    vlm.reset_cache()
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a picture")
    assert vlm.prepare_pictures([broken, tmp_path / "missing.png"], False) == []
    hook = vlm._model.model.vision_model.register_forward_hook(lambda *a: vlm.cancel())
    try:
        assert vlm.prepare_pictures([pictures["tall"]], True) == []  # stopped after a tile
    finally:
        hook.remove()
    reply = vlm.generate(_ask(pictures["tall"]), HIGH, lambda t: None)
    assert not reply.stats.stopped and reply.stats.vision_s > 0  # read again in full
    assert VisionChatEngine(Path("nowhere")).prepare_pictures([pictures["photo"]], False) == []


def test_left_out_names_the_messages_generate_leaves_out(vlm, pictures):
    """What a documents question relies on (ui/workers/chat.py): the engine says beforehand
    how many of the oldest messages its prompt will leave out, as `generate` then does."""
    chat = [
        Message("user", "Tell me about the harbour. " * 20),
        Message("assistant", "Boats. " * 20),
        Message("user", "And the lighthouse? " * 20),
        Message("assistant", "A lamp. " * 20),
        Message("user", "What is in this picture?", (pictures["photo"],)),
    ]
    assert vlm.tokenizer is not None and vlm.tokenizer.encode("harbour")
    full = vlm.context_tokens
    try:
        for context in (full, 260, 200):
            vlm.context_tokens = context
            expected = vlm.left_out(chat, GREEDY)
            assert expected == vlm.generate(chat, GREEDY, lambda t: None).stats.dropped_messages
        assert vlm.left_out(chat, GREEDY) > 0  # the smallest context left some out
    finally:
        vlm.context_tokens = full


def test_the_warm_up_is_apart_from_loading_and_measures_a_tile_once(tiny_vlm_dir):
    from desktop_assistant.inference.vision import DEFAULT_TILE_S

    engine = VisionChatEngine(tiny_vlm_dir)
    engine.warm_up()  # not loaded: nothing to warm
    engine.load()
    try:
        assert engine.seconds_per_tile == DEFAULT_TILE_S  # not measured while loading
        engine.warm_up()
        measured = engine.seconds_per_tile
        assert 0 < measured != DEFAULT_TILE_S
        engine.warm_up()  # once
        assert engine.seconds_per_tile == measured
    finally:
        engine.unload()


def test_the_quantized_language_part_is_cached_and_answers_the_same(
    tiny_vlm_dir, pictures, monkeypatch
):
    """The first load quantizes the language part and caches it; the next reads it from the
    cache (no quantizing) and answers the same; a torn cache file is made again."""
    from desktop_assistant.inference import quant_cache, quantize

    entry = quant_cache.entry_dir(tiny_vlm_dir, "int8", quantize.INT4_GROUP)
    answers = []

    def answer() -> None:
        engine = VisionChatEngine(tiny_vlm_dir, precision="int8")
        engine.load()
        answers.append(engine.generate(_ask(pictures["photo"]), GREEDY, lambda t: None).text)
        engine.unload()
        assert quant_cache.is_current(tiny_vlm_dir, "int8", quantize.INT4_GROUP)

    answer()
    quantized = quantize.quantize_model

    def refused(*args, **kwargs):
        raise AssertionError("quantized again")

    monkeypatch.setattr(quantize, "quantize_model", refused)
    answer()
    data = entry / "model.safetensors"
    data.write_bytes(data.read_bytes()[:4096])
    monkeypatch.setattr(quantize, "quantize_model", quantized)
    answer()
    assert answers[0] == answers[1] == answers[2]
    assert len(answers[0]) > 0
