"""Installed models: import (folders and GGUF files), refusals, remove, defaults, fit check."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest

from desktop_assistant.core.errors import ModelError, UserError
from desktop_assistant.core.settings import Settings
from desktop_assistant.models import registry
from desktop_assistant.models.importer import ImportCancelled, import_model

QWEN2_GGUF_NAMES = {
    "input_layernorm.weight": "attn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.q_proj.bias": "attn_q.bias",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.k_proj.bias": "attn_k.bias",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.v_proj.bias": "attn_v.bias",
    "self_attn.o_proj.weight": "attn_output.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}


def write_tiny_gguf(source: Path, out: Path) -> Path:
    """The tiny Qwen2 chat model as llama.cpp would write it: qwen2 metadata, a GPT-2 style
    BPE vocabulary with its merges and chat template, Q8_0 matrices and F32 norms/biases."""
    import gguf
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(source)
    tokenizer = AutoTokenizer.from_pretrained(source)
    config = model.config
    writer = gguf.GGUFWriter(out, "qwen2")
    writer.add_name("tiny-qwen2")
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_rope_freq_base(config.rope_parameters["rope_theta"])
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
    tokens = [t for t, _ in sorted(tokenizer.get_vocab().items(), key=lambda kv: kv[1])]
    merges = json.loads(tokenizer.backend_tokenizer.to_str())["model"]["merges"]
    special = set(tokenizer.all_special_tokens)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("qwen2")
    writer.add_token_list(tokens)
    writer.add_token_types(
        [gguf.TokenType.CONTROL if t in special else gguf.TokenType.NORMAL for t in tokens]
    )
    writer.add_token_merges([" ".join(m) if isinstance(m, list) else m for m in merges])
    writer.add_eos_token_id(tokenizer.eos_token_id)
    writer.add_pad_token_id(tokenizer.pad_token_id)
    writer.add_chat_template(tokenizer.chat_template)
    top = {
        "model.embed_tokens.weight": "token_embd.weight",
        "model.norm.weight": "output_norm.weight",
        "lm_head.weight": "output.weight",
    }
    for name, tensor in model.state_dict().items():
        if name.startswith("model.layers."):
            layer, rest = name.removeprefix("model.layers.").split(".", 1)
            gguf_name = f"blk.{layer}.{QWEN2_GGUF_NAMES[rest]}"
        else:
            gguf_name = top[name]
        array = tensor.float().numpy()
        if array.ndim == 2 and array.shape[1] % 32 == 0:
            q8 = gguf.GGMLQuantizationType.Q8_0
            writer.add_tensor(gguf_name, gguf.quants.quantize(array, q8), raw_dtype=q8)
        else:
            writer.add_tensor(gguf_name, array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory, tiny_chat_dir) -> Path:
    return write_tiny_gguf(tiny_chat_dir, tmp_path_factory.mktemp("gguf") / "tiny-q8_0.gguf")


def copy_of(folder: Path, where: Path) -> Path:
    shutil.copytree(folder, where)
    return where


def test_import_a_folder_copies_what_is_needed(tiny_chat_dir, tmp_path):
    source = copy_of(tiny_chat_dir, tmp_path / "My Model")
    (source / "pytorch_model.bin").write_bytes(b"\x80\x02pickle")  # a stale duplicate
    (source / "notes.md").write_text("mine")
    steps = []
    model = import_model(source, lambda text, fraction: steps.append(fraction))
    assert model.id == "local/My-Model" and model.role == "chat" and model.source == "import"
    assert model.path == registry.model_dir("local/My-Model") and model.architecture == "qwen2"
    copied = {p.name for p in model.path.iterdir()} - {registry.MANIFEST}
    assert copied == {p.name for p in tiny_chat_dir.iterdir()}
    assert steps[-1] == 1.0 and steps == sorted(steps)
    shutil.rmtree(source)  # the original may go away: the copy keeps working
    from desktop_assistant.inference.causal_lm import CausalLMEngine

    engine = CausalLMEngine(model.path, "fp32")
    engine.load()
    assert engine.is_loaded
    again = import_model(tiny_chat_dir)
    assert again.id == "local/tiny-chat0" or again.id.startswith("local/")
    assert again.path != model.path


@pytest.mark.parametrize(
    "damage, reason",
    [
        ("pickle_only", "pickle"),
        ("auto_map", "auto_map"),
        ("tokenizer_auto_map", "auto_map in tokenizer_config.json"),
        ("unknown_architecture", "does not know"),
        ("not_a_chat_model", "not a chat, vision or speech model"),
        ("truncated", "truncated"),
        ("missing_shard", "missing"),
    ],
)
def test_refused_folders_say_why(tiny_chat_dir, tmp_path, damage, reason):
    folder = copy_of(tiny_chat_dir, tmp_path / "model")
    config = json.loads((folder / "config.json").read_text())
    if damage == "pickle_only":
        (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    elif damage == "auto_map":
        config["auto_map"] = {"AutoModelForCausalLM": "modeling.Custom"}
    elif damage == "tokenizer_auto_map":
        tok = json.loads((folder / "tokenizer_config.json").read_text())
        tok["auto_map"] = {"AutoTokenizer": ["tokenization.Custom", None]}
        (folder / "tokenizer_config.json").write_text(json.dumps(tok))
    elif damage == "unknown_architecture":
        config["model_type"] = "mystery-net"
    elif damage == "not_a_chat_model":
        config["model_type"] = "vit"  # an image classifier
    elif damage == "truncated":
        weights = folder / "model.safetensors"
        data = weights.read_bytes()
        weights.write_bytes(data[: len(data) // 2])
    elif damage == "missing_shard":
        index = {"weight_map": {"lm_head.weight": "model-00002-of-00002.safetensors"}}
        (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError) as caught:
        import_model(folder)
    assert reason in str(caught.value)
    assert registry.list_installed() == []
    assert not any(registry.partial_dir().glob("*")) if registry.partial_dir().exists() else True


def test_import_a_gguf_file_converts_it_once(tiny_gguf, tiny_chat_dir):
    import torch
    from transformers import AutoModelForCausalLM

    steps = []
    model = import_model(tiny_gguf, lambda text, fraction: steps.append((text, fraction)))
    assert model.role == "chat" and model.architecture == "qwen2"
    assert model.id == "local/tiny-q8_0" and "GGUF" in model.origin
    names = {p.name for p in model.path.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", registry.MANIFEST} <= names
    assert not any(n.endswith((".gguf", ".bin")) for n in names)
    converting = [f for text, f in steps if text.startswith("Converting")]
    assert len(converting) > 10 and converting == sorted(converting)  # per tensor
    assert steps[-1] == ("Done", 1.0)
    original = AutoModelForCausalLM.from_pretrained(tiny_chat_dir)
    converted = AutoModelForCausalLM.from_pretrained(model.path, dtype=torch.float32)
    ids = torch.tensor([[5, 17, 42, 99, 7]])
    with torch.no_grad():
        diff = (original(ids).logits - converted(ids).logits).abs().max().item()
    assert diff < 0.05  # Q8_0 and bf16 rounding only
    from desktop_assistant.inference.loading import load_tokenizer
    from desktop_assistant.models.model_folder import check_model_folder

    tokenizer = load_tokenizer(check_model_folder(model.path))
    assert tokenizer.chat_template and tokenizer.eos_token == "<|im_end|>"


def test_truncated_or_foreign_gguf_is_refused(tiny_gguf, tmp_path):
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(tiny_gguf.read_bytes()[: tiny_gguf.stat().st_size // 2])
    with pytest.raises(ModelError, match="truncated"):
        import_model(cut)
    fake = tmp_path / "fake.gguf"
    fake.write_bytes(b"PK\x03\x04 not a gguf")
    with pytest.raises(ModelError, match="not a GGUF"):
        import_model(fake)
    assert registry.list_installed() == []


def test_cancelled_gguf_import_installs_nothing(tiny_gguf):
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(ImportCancelled):
        import_model(tiny_gguf, cancel=cancel)
    assert registry.list_installed() == []


def test_remove_frees_the_disk_and_clears_the_setting(tiny_chat_dir, tmp_path):
    settings = Settings(tmp_path / "settings.json")
    model = import_model(tiny_chat_dir)
    registry.set_default("chat", model.id, settings)
    assert registry.default_model("chat", settings) == model
    assert registry.default_model("vision", settings) is None  # a text model
    freed = registry.remove(model.id, settings)
    assert freed >= model.size and not model.path.exists()
    assert settings.get("model_path") == "" and registry.list_installed() == []
    with pytest.raises(UserError, match="not installed"):
        registry.remove(model.id, settings)


def test_defaults_per_role(tiny_chat_dir, tiny_whisper_dir, tiny_vlm_dir, tmp_path):
    settings = Settings(tmp_path / "settings.json")
    assert registry.needs_setup(settings)
    chat, speech, vision = (
        import_model(p) for p in (tiny_chat_dir, tiny_whisper_dir, tiny_vlm_dir)
    )
    assert (chat.role, speech.role, vision.role) == ("chat", "speech", "vision")
    assert [m.role for m in registry.list_installed()] == ["chat", "vision", "speech"]
    assert registry.default_if_unset(speech, settings)
    assert settings.get("stt_model_path") == str(speech.path)
    assert not registry.default_if_unset(speech, settings)  # already set
    with pytest.raises(UserError, match="cannot be the speech model"):
        registry.set_default("speech", chat.id, settings)
    with pytest.raises(UserError, match="cannot be the vision model"):
        registry.set_default("vision", chat.id, settings)
    registry.set_default("vision", vision.id, settings)
    assert settings.get("model_path") == str(vision.path)
    assert registry.default_model("vision", settings) == vision
    assert registry.default_model("chat", settings) == vision  # a vision model also chats
    assert not registry.needs_setup(settings)
    with pytest.raises(UserError, match="unknown role"):
        registry.set_default("painting", vision.id, settings)


def test_model_option_accepts_an_installed_id_or_a_path(tiny_chat_dir):
    model = import_model(tiny_chat_dir)
    assert registry.resolve_model_arg(model.id) == str(model.path)
    assert registry.resolve_model_arg(model.id.upper()) == str(model.path)
    assert registry.resolve_model_arg(model.path.name) == str(model.path)
    assert registry.resolve_model_arg(str(tiny_chat_dir)) == str(tiny_chat_dir)
    assert registry.resolve_model_arg("no/such-thing") == "no/such-thing"  # check_model_folder says
    with pytest.raises(ModelError, match="models download openai/whisper-base"):
        registry.resolve_model_arg("openai/whisper-base")


def test_unfinished_folders_are_not_installed(tiny_chat_dir):
    model = import_model(tiny_chat_dir)
    (model.path / registry.MANIFEST).unlink()
    (registry.partial_dir() / "some--download").mkdir(parents=True)
    assert registry.list_installed() == [] and registry.find_installed(model.id) is None


def test_fit_check():
    gb = 1_000_000_000
    assert registry.ram_fit(2 * gb, available=8 * gb).verdict == registry.FITS
    assert registry.ram_fit(2 * gb, available=2.2 * gb).verdict == registry.TIGHT
    assert registry.ram_fit(2 * gb, available=1 * gb).verdict == registry.WONT_FIT
    assert "needs 2.0 GB, 1.0 GB free" in registry.ram_fit(2 * gb, available=1 * gb).describe()
    assert registry.disk_fit(1 * gb, free=10 * gb).verdict == registry.FITS
    assert registry.disk_fit(1 * gb, free=1.2 * gb).verdict == registry.TIGHT
    assert registry.disk_fit(1 * gb, free=0.5 * gb).verdict == registry.WONT_FIT
    real = registry.ram_fit(1)
    assert real.free > 0 and real.verdict == registry.FITS  # psutil's figure
    assert registry.disk_fit(1, Path("/nonexistent/deeper/still")).free > 0


@pytest.mark.real_models
@pytest.mark.timeout(600)  # 60 s here (Zen 4): the GGUF is expanded and quantized
def test_import_the_dev_qwen_coder_gguf_and_ask(real_models_dir):
    gguf = real_models_dir / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
    if not gguf.is_file():
        pytest.skip(f"{gguf} is missing")
    model = import_model(gguf)
    assert model.role == "chat" and model.architecture == "qwen2"
    from desktop_assistant.core.conversation import Message
    from desktop_assistant.inference.causal_lm import CausalLMEngine
    from desktop_assistant.inference.options import GenerationOptions

    engine = CausalLMEngine(model.path)
    engine.load()
    reply = engine.generate(
        [Message("user", "What is the capital of France? Answer in one word.")],
        GenerationOptions(max_new_tokens=8, temperature=0),
        lambda text: None,
    )
    assert "paris" in reply.text.lower()
