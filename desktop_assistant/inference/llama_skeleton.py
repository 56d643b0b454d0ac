"""An empty Llama / Qwen2 model with transformers' attribute names, for a quantized cache to
load into (`skeleton`), without importing transformers' model code. `llama_forward.build`
takes it as it takes the real model."""

from __future__ import annotations

from typing import Any, cast

import torch
from torch import nn


class _EmptyLinear(nn.Linear):
    """nn.Linear without its random initialisation: on the meta device that goes through
    torch's reference ops and imports torch._dynamo (3 s). The weights come from the cache."""

    def reset_parameters(self) -> None:
        pass


class _EmptyEmbedding(nn.Embedding):
    def reset_parameters(self) -> None:
        pass


class _Norm(nn.Module):
    """Where a checkpoint's RMSNorm weight loads (what `llama_forward.RMSNorm` reads from
    transformers')."""

    def __init__(self, size: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(size, device="meta"), requires_grad=False)
        self.variance_epsilon = eps


class _Rotary(nn.Module):
    """The rotary table's frequencies, as transformers' rotary embedding computes them (its
    own initialisers for the scaled kinds), called the same way. No buffers: nothing of it
    is in a state dict."""

    def __init__(self, config: Any, head_dim: int) -> None:
        super().__init__()
        rope = getattr(config, "rope_parameters", None) or {}
        kind = rope.get("rope_type", "default")
        if kind == "default":
            theta = float(rope.get("rope_theta", getattr(config, "rope_theta", 10000.0)))
            steps = torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim
            self.inv_freq, self.scaling = 1.0 / theta**steps, 1.0
        else:
            from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

            self.inv_freq, self.scaling = ROPE_INIT_FUNCTIONS[kind](config)

    def forward(self, x: torch.Tensor, positions: torch.Tensor) -> tuple[Any, Any]:
        freqs = positions[..., None].float() * self.inv_freq
        angles = torch.cat((freqs, freqs), dim=-1)
        return (
            (angles.cos() * self.scaling).to(x.dtype),
            (angles.sin() * self.scaling).to(x.dtype),
        )


class _Shaped(nn.Module):
    """A Llama / Qwen2 module tree with transformers' attribute names and nothing else, on
    the meta device: what a quantized cache's state dict loads into without importing
    transformers' model code (2.3 s of a 4.3 s load, issue 17). `llama_forward.build` takes
    it as it takes the real model."""

    def __init__(self, config: Any) -> None:
        super().__init__()
        self.config = config
        self.generation_config = None
        hidden, heads = config.hidden_size, config.num_attention_heads
        head_dim = getattr(config, "head_dim", None) or hidden // heads
        kv = config.num_key_value_heads * head_dim
        o_bias = bool(getattr(config, "attention_bias", False))  # Llama's; Qwen2 has none
        qkv_bias = config.model_type == "qwen2" or o_bias
        mlp_bias = bool(getattr(config, "mlp_bias", False))
        eps = float(config.rms_norm_eps)
        meta = torch.device("meta")
        self.model = nn.Module()
        self.model.embed_tokens = _EmptyEmbedding(config.vocab_size, hidden, device=meta)
        self.model.layers = nn.ModuleList()
        for _ in range(config.num_hidden_layers):
            layer = nn.Module()
            attn = nn.Module()
            attn.q_proj = _EmptyLinear(hidden, heads * head_dim, bias=qkv_bias, device=meta)
            attn.k_proj = _EmptyLinear(hidden, kv, bias=qkv_bias, device=meta)
            attn.v_proj = _EmptyLinear(hidden, kv, bias=qkv_bias, device=meta)
            attn.o_proj = _EmptyLinear(heads * head_dim, hidden, bias=o_bias, device=meta)
            attn.head_dim, attn.scaling = head_dim, head_dim**-0.5
            mlp = nn.Module()
            inner = config.intermediate_size
            mlp.gate_proj = _EmptyLinear(hidden, inner, bias=mlp_bias, device=meta)
            mlp.up_proj = _EmptyLinear(hidden, inner, bias=mlp_bias, device=meta)
            mlp.down_proj = _EmptyLinear(inner, hidden, bias=mlp_bias, device=meta)
            layer.self_attn, layer.mlp = attn, mlp
            layer.input_layernorm = _Norm(hidden, eps)
            layer.post_attention_layernorm = _Norm(hidden, eps)
            self.model.layers.append(layer)
        self.model.norm = _Norm(hidden, eps)
        self.model.rotary_emb = _Rotary(config, head_dim)
        self.lm_head = _EmptyLinear(hidden, config.vocab_size, bias=False, device=meta)

    def get_input_embeddings(self) -> nn.Module:
        return cast(nn.Module, self.model.embed_tokens)

    def get_output_embeddings(self) -> nn.Module:
        return self.lm_head


def skeleton(config: Any) -> nn.Module:
    """An empty (meta) model of `config` with transformers' names, for a cached state dict
    (see `_Shaped`); quantize.make_skeleton then swaps in the quantized layers."""
    return _Shaped(config)
