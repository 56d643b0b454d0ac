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
