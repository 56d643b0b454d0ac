"""Tiny random-weight models with a locally trained tokenizer, saved like real ones.

Used by session fixtures (conftest.py) and by benchmarks. Random weights: tests assert types,
lengths, events and timings, never wording.
"""

from __future__ import annotations

from pathlib import Path

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "A desktop assistant answers questions offline on a laptop.",
    "Write a Python function that adds two numbers: def add(a, b): return a + b",
    "Markdown has **bold**, _italic_, `code` and lists:\n- one\n- two",
    "What is the capital of France? Paris is the capital of France.",
    "Numbers 0 1 2 3 4 5 6 7 8 9 and symbols ( ) [ ] { } < > = + - * / # @ ! ?",
    "Héllo wörld, naïve café, 日本語, emoji 🙂 and other unicode text.",
] * 20


def train_tokenizer(vocab_size: int = 400):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(CORPUS, trainer)
    return tok


def _silence_special_tokens(model, token_ids: list[int]) -> None:
    """Zero the output rows of special tokens so greedy decoding never ends early."""
    import torch

    with torch.no_grad():
        model.get_output_embeddings().weight[token_ids] = 0.0


def build_tiny_chat_model(out: Path, seed: int = 0) -> Path:
    """A 2-layer Qwen2-style chat model with a ChatML template."""
    import torch
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=train_tokenizer(),
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        chat_template=CHATML_TEMPLATE,
    )
    special = tokenizer.convert_tokens_to_ids(SPECIAL)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=False,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    _silence_special_tokens(model, special)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def build_tiny_gpt2(out: Path, seed: int = 0) -> Path:
    """A 2-layer GPT-2 with no chat template (the plain-transcript fallback)."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=train_tokenizer(),
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
    )
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=256,
        n_embd=64,
        n_layer=2,
        n_head=4,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(config)
    _silence_special_tokens(model, tokenizer.convert_tokens_to_ids(SPECIAL))
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


# SmolVLM-256M-Instruct's chat template (its chat_template.json), verbatim.
SMOLVLM_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{message['role'] | capitalize}}"
    "{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}"
    "<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)
VLM_SPECIAL = ["<fake_token_around_image>", "<image>", "<end_of_utterance>", "<global-img>"]
VLM_GRID = [f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7)]


def build_tiny_vlm(out: Path, seed: int = 0) -> Path:
    """A tiny Idefics3 (SmolVLM's architecture): 64-px tiles of 8x8 patches, pixel-shuffled by 2
    into 16 image tokens per tile, a 2-layer vision encoder and a 2-layer Llama; the processor
    and tokenizer files are written by `save_pretrained`, as in a real folder."""
    import torch
    from tokenizers import AddedToken
    from transformers import (
        Idefics3Config,
        Idefics3ForConditionalGeneration,
        Idefics3Processor,
        PreTrainedTokenizerFast,
    )
    from transformers.models.idefics3 import Idefics3ImageProcessorPil

    raw = train_tokenizer()
    raw.add_special_tokens([AddedToken(t, normalized=False) for t in VLM_SPECIAL + VLM_GRID])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|im_end|>",
        unk_token="<|endoftext|>",
        additional_special_tokens=VLM_SPECIAL[:3],
    )
    image_processor = Idefics3ImageProcessorPil(
        size={"longest_edge": 4 * 64},  # SmolVLM: 4 x 512
        max_image_size={"longest_edge": 64},
        do_image_splitting=True,
        resample=1,
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
    )
    processor = Idefics3Processor(
        image_processor, tokenizer, image_seq_len=16, chat_template=SMOLVLM_TEMPLATE
    )
    config = Idefics3Config(
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        scale_factor=2,
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": 64,
            "patch_size": 8,
        },
        text_config={
            "model_type": "llama",
            "vocab_size": len(tokenizer),
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "max_position_embeddings": 2048,
            "pad_token_id": tokenizer.pad_token_id,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
        },
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = Idefics3ForConditionalGeneration(config)
    model.generation_config.eos_token_id = tokenizer.convert_tokens_to_ids("<end_of_utterance>")
    _silence_special_tokens(model, tokenizer.convert_tokens_to_ids(SPECIAL + VLM_SPECIAL))
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


WHISPER_CONFIGS = Path(__file__).resolve().parents[2] / "shared" / "model-configs" / "whisper-base"
if not WHISPER_CONFIGS.is_dir():  # a worktree elsewhere: the machine's shared folder
    WHISPER_CONFIGS = Path("/work/shared/model-configs/whisper-base")


def build_tiny_whisper(out: Path, seed: int = 0) -> Path:
    """A 2-layer Whisper (d_model 64) with whisper-base's real processor, tokenizer and
    generation config (../shared/model-configs/whisper-base), saved like a real folder."""
    import shutil

    import torch
    from transformers import (
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
        WhisperTokenizer,
    )

    tokenizer = WhisperTokenizer.from_pretrained(WHISPER_CONFIGS, local_files_only=True)
    extractor = WhisperFeatureExtractor.from_pretrained(WHISPER_CONFIGS, local_files_only=True)
    real = WhisperConfig.from_pretrained(WHISPER_CONFIGS, local_files_only=True)
    config = WhisperConfig(
        vocab_size=real.vocab_size,
        num_mel_bins=real.num_mel_bins,
        d_model=64,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=128,
        decoder_ffn_dim=128,
        max_source_positions=real.max_source_positions,
        max_target_positions=real.max_target_positions,
        bos_token_id=real.bos_token_id,
        eos_token_id=real.eos_token_id,
        pad_token_id=real.pad_token_id,
        decoder_start_token_id=real.decoder_start_token_id,
    )
    torch.manual_seed(seed)
    model = WhisperForConditionalGeneration(config)
    model.save_pretrained(out)
    WhisperProcessor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(out)
    shutil.copy(WHISPER_CONFIGS / "generation_config.json", out / "generation_config.json")
    return out
