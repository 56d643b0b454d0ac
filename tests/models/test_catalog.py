"""Every catalog entry is loadable: its architecture is built from its real config (shrunk to a
few small layers) with random weights and runs one forward step; the catalog's figures agree
with the config's."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from desktop_assistant.inference.factory import VISION_MODEL_TYPES
from desktop_assistant.models import registry
from desktop_assistant.models.catalog import ROLES, load_catalog, parse_catalog, wanted_file

SHARED = Path(__file__).resolve().parents[3] / "shared" / "model-configs"
if not SHARED.is_dir():  # a worktree elsewhere: the machine's shared folder
    SHARED = Path("/work/shared/model-configs")
LOCAL = Path(__file__).resolve().parents[1] / "model_configs"
ENTRIES = load_catalog().entries
BYTES_PER = {"bf16": 2, "fp16": 2, "fp32": 4}
TINY_TEXT = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "max_window_layers": 2,
}
TINY_VISION = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
}
TINY_WHISPER = {
    "d_model": 64,
    "encoder_layers": 2,
    "decoder_layers": 2,
    "encoder_attention_heads": 2,
    "decoder_attention_heads": 2,
    "encoder_ffn_dim": 128,
    "decoder_ffn_dim": 128,
    "num_hidden_layers": 2,
    "max_source_positions": 16,
}


def config_dict(entry) -> dict:
    for root in (SHARED, LOCAL):
        path = root / entry.name / "config.json"
        if path.is_file():
            return json.loads(path.read_text())
    raise AssertionError(f"no config for {entry.id} in {SHARED} or {LOCAL}")


def build(config: dict, role: str, device: str = "cpu"):
    import torch
    from transformers import (
        AutoConfig,
        AutoModelForCausalLM,
        AutoModelForImageTextToText,
        AutoModelForSpeechSeq2Seq,
    )

    fields = {k: v for k, v in config.items() if k not in ("model_type", "architectures")}
    cfg = AutoConfig.for_model(config["model_type"], **fields)
    auto = {
        "chat": AutoModelForCausalLM,
        "vision": AutoModelForImageTextToText,
        "speech": AutoModelForSpeechSeq2Seq,
    }[role]
    with torch.device(device):
        return auto.from_config(cfg, dtype=torch.float32)


def shrink(config: dict, role: str) -> dict:
    tiny = copy.deepcopy(config)
    if role == "speech":
        tiny.update(TINY_WHISPER)
    elif config["model_type"] == "gpt2":
        tiny.update(n_embd=64, n_layer=2, n_head=4)
    elif role == "chat":
        tiny.update({k: v for k, v in TINY_TEXT.items() if k != "head_dim" or "head_dim" in tiny})
    else:
        text, vision = tiny["text_config"], tiny["vision_config"]
        text.update({k: v for k, v in TINY_TEXT.items() if k != "head_dim" or "head_dim" in text})
        vision.update(TINY_VISION)
        vision["image_size"] = vision.get("patch_size", 16) * tiny.get("scale_factor", 2) * 2
    return tiny


def context_of(config: dict) -> int:
    text = config.get("text_config", config)
    for key in ("max_position_embeddings", "n_positions", "max_target_positions"):
        if key in text:
            return int(text[key])
    raise AssertionError("no context length in the config")


def test_catalog_covers_every_role_with_defaults():
    catalog = load_catalog()
    assert {e.role for e in catalog.entries} == set(ROLES)
    assert catalog.defaults["vision"] == "HuggingFaceTB/SmolVLM2-500M-Video-Instruct"
    assert catalog.defaults["speech"] == "openai/whisper-base"
    assert [e.role for e in catalog.recommended()] == ["vision", "speech"]
    assert len({e.id for e in catalog.entries}) == len(catalog.entries)
    gated = [e for e in catalog.entries if e.gated]
    assert [e.id for e in gated] == ["meta-llama/Llama-3.2-1B-Instruct"]
    assert "accept" in gated[0].access and "HF_TOKEN" in gated[0].access
    assert catalog.get("OPENAI/WHISPER-BASE") is catalog.get("openai--whisper-base") is not None
    with pytest.raises(ValueError, match="unknown role"):
        parse_catalog({"models": [{**vars(ENTRIES[0]), "role": "painting", "files": []}]})


def test_only_safetensors_and_small_files_are_fetched():
    patterns = load_catalog().files
    wanted = "model.safetensors model-00001-of-00002.safetensors config.json tokenizer.json "
    wanted += "model.safetensors.index.json chat_template.jinja preprocessor_config.json merges.txt"
    for name in wanted.split():
        assert wanted_file(name, patterns), name
    unwanted = "pytorch_model.bin model.pt tf_model.h5 flax_model.msgpack model.onnx "
    unwanted += "onnx/model.safetensors original/consolidated.00.pth model.gguf 64-8bits.tflite "
    unwanted += "rust_model.ot .gitattributes README.md training_args.bin"
    for name in unwanted.split():
        assert not wanted_file(name, patterns), name


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.id for e in ENTRIES])
def test_catalog_figures_match_the_real_config(entry):
    import torch

    config = config_dict(entry)
    assert config["model_type"] == entry.architecture and not config.get("auto_map")
    assert registry.role_of_config(config) == ("chat" if entry.role == "chat" else entry.role)
    assert context_of(config) == entry.context
    model = build(config, entry.role, device="meta")
    params = sum(p.numel() for p in model.parameters())
    assert abs(params - entry.parameters) / entry.parameters < 0.03, params
    ((precision, size),) = entry.download.items()
    assert abs(size - params * BYTES_PER[precision]) / size < 0.15, (size, params)
    assert entry.min_ram > params and entry.description and entry.licence
    del model
    assert torch.get_default_device().type == "cpu"


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.id for e in ENTRIES])
def test_every_catalog_architecture_runs_one_step(entry):
    import torch
    from transformers.models.auto import modeling_auto

    config = shrink(config_dict(entry), entry.role)
    if entry.role == "chat":
        assert config["model_type"] in modeling_auto.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
    if entry.role == "vision":
        assert config["model_type"] in VISION_MODEL_TYPES  # VisionChatEngine runs it
    torch.manual_seed(0)
    model = build(config, entry.role).eval()
    with torch.inference_mode():
        if entry.role == "chat":
            vocab = model.config.vocab_size
            out = model(input_ids=torch.tensor([[1, 2, 3, 4, 5]]))
            assert out.logits.shape == (1, 5, vocab)
        elif entry.role == "vision":
            vision = config["vision_config"]
            side = vision["image_size"]
            tokens = (side // vision["patch_size"]) ** 2 // config["scale_factor"] ** 2
            ids = [1, 2] + [config["image_token_id"]] * tokens + [3, 4]
            out = model(
                input_ids=torch.tensor([ids]),
                pixel_values=torch.randn(1, 1, 3, side, side),
                pixel_attention_mask=torch.ones(1, 1, side, side, dtype=torch.bool),
            )
            assert out.logits.shape == (1, len(ids), model.config.text_config.vocab_size)
        else:
            frames = 2 * config["max_source_positions"]
            out = model(
                input_features=torch.randn(1, config["num_mel_bins"], frames),
                decoder_input_ids=torch.tensor([[config["decoder_start_token_id"]]]),
            )
            assert out.logits.shape == (1, 1, config["vocab_size"])
    assert torch.isfinite(out.logits).all()
