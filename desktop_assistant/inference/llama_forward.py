"""Our own forward pass for the Llama / Qwen2 family (the text models in the catalog).

transformers' forward spends a quarter of a decode step on per-layer Python: masks, cache
objects, hooks, a dozen small ops for each norm and rotary embedding (issue 17: matmuls were
~75% of a step). This one keeps the model's own weights and kernels (the quantized modules of
quantize.py or plain nn.Linear) and does per layer only what the maths needs:
- q/k/v and gate/up are fused into one projection each where the kernel allows it (int8
  weights: one activation quantization and one GEMM instead of three or two);
- the KV cache is preallocated (`KVCache`: grown in steps, cropped by moving its length) and
  fp32 whatever the weights: without oneDNN (off while decoding, causal_lm.py) one bf16
  query's attention took 324 us at 400 tokens, 35 us in fp32 with the casts;
- RMSNorm in four small ops (`RMSNorm`), the rotary embedding in three (`_rotate`) from a
  table computed once and sliced;
- a single decoded token needs no attention mask; a prefill chunk after cached tokens gets one
  boolean mask, not one per layer;
- where every product of the model runs on our int8 kernel, a decoded token (or a draft of a
  few) goes through the layers in one call of its `decode_layers` (int8_linear.c: norms, rotary
  embedding, cache write, attention, SiLU and residuals in C), which leaves no per-op Python
  in a decode step (Qwen2.5-0.5B, Zen 4: 36 -> 43 tok/s).

`build` returns None for anything it does not know exactly (other families, sliding-window
layers, rope types whose table depends on the length), and the engine keeps transformers'
forward for those. The test compares both forwards on tiny Llama and Qwen2 models.
llama_skeleton.py gives a quantized cache a module tree to load into without transformers'
model code (loading.load_quantized).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from desktop_assistant.inference import quantize
from desktop_assistant.inference.head import shortlist_head

FAMILIES = ("llama", "qwen2")
CACHE_STEP = 256  # KV cache capacity grows in multiples of this many tokens
# Up to this many tokens (one decoded, or a prompt-lookup draft) go through the layers in C
# (`decode_layers`); longer prefill chunks through the torch layers, whose per-op cost is
# shared by the chunk's tokens.
NATIVE_TOKENS = 16
STATIC_ROPE = ("default", "linear", "llama3", "yarn")  # tables that do not change with length


def supported(model: Any) -> bool:
    """Whether `build` reproduces this model's forward exactly."""
    config = getattr(model, "config", None)
    if config is None or not supported_config(config):
        return False
    inner = getattr(model, "model", None)
    return (
        inner is not None
        and hasattr(inner, "layers")
        and hasattr(inner, "rotary_emb")
        and getattr(model, "lm_head", None) is not None
    )


def supported_config(config: Any) -> bool:
    """Whether a model of this configuration is one `build` knows (see `supported`)."""
    if getattr(config, "model_type", None) not in FAMILIES:
        return False
    if getattr(config, "hidden_act", "silu") != "silu":
        return False
    if any(t != "full_attention" for t in getattr(config, "layer_types", None) or ()):
        return False
    if getattr(config, "use_sliding_window", False) or getattr(config, "pretraining_tp", 1) != 1:
        return False
    rope = getattr(config, "rope_parameters", None) or {}
    return rope.get("rope_type", "default") in STATIC_ROPE


class KVCache:
    """Keys and values of every layer in two preallocated tensors, [layers, 1, heads, capacity,
    head dim]; `length` tokens are valid. Same `crop` and `get_seq_length` as transformers'
    caches, which is all the generation loop uses."""

    def __init__(self, layers: int, heads: int, head_dim: int, dtype: torch.dtype) -> None:
        self.shape = (layers, 1, heads, 0, head_dim)
        self.dtype = dtype
        self.keys = torch.empty(self.shape, dtype=dtype)
        self.values = torch.empty(self.shape, dtype=dtype)
        self.length = 0

    def get_seq_length(self, layer: int = 0) -> int:
        return self.length

    def crop(self, max_length: int) -> None:
        """Keep the first `max_length` tokens; a negative count removes that many."""
        keep = self.length + max_length if max_length < 0 else max_length
        self.length = max(0, min(self.length, keep))

    def reserve(self, total: int) -> None:
        capacity = self.keys.shape[3]
        if total <= capacity:
            return
        grown = max(total, capacity * 2)
        grown = -(-grown // CACHE_STEP) * CACHE_STEP
        layers, batch, heads, _, dim = self.shape
        for name in ("keys", "values"):
            old = getattr(self, name)
            new = torch.empty((layers, batch, heads, grown, dim), dtype=self.dtype)
            new[:, :, :, : self.length] = old[:, :, :, : self.length]
            setattr(self, name, new)


class Projection(nn.Module):
    """Several Linear layers reading the same input: one fused module when the kernel allows,
    else each in turn. Returns the outputs in order."""

    def __init__(self, parts: list[Any]) -> None:
        super().__init__()
        self.sizes = [int(p.out_features) for p in parts]
        fused = _fuse(parts)
        self.fused = fused
        self.parts = nn.ModuleList() if fused is not None else nn.ModuleList(parts)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if self.fused is not None:
            return tuple(self.fused(x).split(self.sizes, dim=-1))
        return tuple(p(x) for p in self.parts)


def _fuse(parts: list[Any]) -> nn.Module | None:
    kinds = {type(p) for p in parts}
    if len(kinds) != 1:
        return None
    kind = kinds.pop()
    if kind in (quantize.DynamicInt8Linear, quantize.Int8Linear):
        if any(getattr(p, "_packed", None) is not None for p in parts):
            return None  # already packed by fbgemm: its own weight is gone
        fused = kind(parts[0].in_features, sum(_out(p) for p in parts), False)
        fused.weight = torch.cat([p.weight for p in parts])
        fused.scales = torch.cat([p.scales for p in parts])
        fused.bias = _cat_bias(parts, parts[0].scales.dtype)
        return fused
    # int4: the packed layout is not simply concatenated. Float weights: the copy would sit
    # beside the memory-mapped checkpoint (bf16 Qwen2.5-0.5B: peak 1.48 -> 1.92 GB)
    return None


def _out(module: Any) -> int:
    return int(module.out_features)


def _cat_bias(parts: list[Any], dtype: torch.dtype) -> Any:
    if all(p.bias is None for p in parts):
        return None
    pieces = [
        p.bias.detach().to(dtype) if p.bias is not None else torch.zeros(_out(p), dtype=dtype)
        for p in parts
    ]
    return torch.cat(pieces)


class RMSNorm(nn.Module):
    """x * rsqrt(mean(x^2) + eps) * weight, written as x * (weight * sqrt(dim)) /
    hypot(|x|, sqrt(dim * eps)): the same value in four small ops (12.6 us for one
    896-wide token) where torch's rms_norm takes seven (22 us; 2 threads, Zen 4), 49 times
    a token."""

    eps_term: torch.Tensor

    def __init__(self, hf_norm: Any) -> None:
        super().__init__()
        weight = hf_norm.weight.detach()
        dim = weight.shape[0]
        self.scaled = nn.Parameter(weight * dim**0.5, requires_grad=False)
        self.register_buffer("eps_term", torch.tensor((dim * hf_norm.variance_epsilon) ** 0.5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        norm = torch.linalg.vector_norm(x, dim=-1, keepdim=True)
        return x * (self.scaled / torch.hypot(norm, self.eps_term))


def _rotate(x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Rotary embedding of x [1, tokens, heads, head dim], transformers' half-split layout:
    x * cos + rotate_half(x) * sin, where rotate_half(x) = roll(x, half) with the first half
    negated; the sign is folded into the table's sin (`LlamaForward._rope`). Three ops."""
    cos, signed_sin = rope
    return torch.addcmul(x * cos, x.roll(x.shape[-1] // 2, -1), signed_sin)


class Layer(nn.Module):
    """One decoder layer: attention and MLP, each after an RMSNorm, each added to the stream."""

    def __init__(self, hf_layer: Any, config: Any) -> None:
        super().__init__()
        attn, mlp = hf_layer.self_attn, hf_layer.mlp
        self.heads = config.num_attention_heads
        self.kv_heads = config.num_key_value_heads
        self.head_dim = attn.head_dim
        self.scaling = float(attn.scaling)
        self.attn_norm = RMSNorm(hf_layer.input_layernorm)
        self.mlp_norm = RMSNorm(hf_layer.post_attention_layernorm)
        self.qkv = Projection([attn.q_proj, attn.k_proj, attn.v_proj])
        self.qk_width = (self.heads + self.kv_heads) * self.head_dim
        self.o = attn.o_proj
        self.gate_up = Projection([mlp.gate_proj, mlp.up_proj])
        self.down = mlp.down_proj

    def forward(
        self,
        x: torch.Tensor,
        rope: tuple[torch.Tensor, torch.Tensor],
        keys: torch.Tensor,
        values: torch.Tensor,
        start: int,
        mask: torch.Tensor | None,
    ) -> torch.Tensor:
        n = x.shape[1]
        h = self.attn_norm(x)
        q, k, v = self._project(h, rope)
        keys.narrow(2, start, n).copy_(k.transpose(1, 2))
        values.narrow(2, start, n).copy_(v.transpose(1, 2))
        end = start + n
        if n == 1:
            a = self._attend_one(q.to(keys.dtype), keys[0, :, :end], values[0, :, :end])
        else:
            a = F.scaled_dot_product_attention(
                q.transpose(1, 2).to(keys.dtype),
                keys[:, :, :end],
                values[:, :, :end],
                attn_mask=mask,
                is_causal=mask is None,
                scale=self.scaling,
                enable_gqa=self.heads != self.kv_heads,
            ).transpose(1, 2)
        x = x + self.o(a.reshape(1, n, self.heads * self.head_dim).to(x.dtype))
        h = self.mlp_norm(x)
        gate, up = self.gate_up(h)
        return x + self.down(F.silu(gate) * up)

    def native_args(self) -> Any:
        """The layer for the C kernel's `decode_layer` (native.LayerArgs), or None when one of
        its products does not run on that kernel (int4, weight-only int8, fbgemm, float)."""
        from desktop_assistant.inference import native

        parts = (self.qkv.fused, self.o, self.gate_up.fused, self.down)
        if not all(
            isinstance(p, quantize.DynamicInt8Linear) and p._native is not None for p in parts
        ):
            return None
        norms = (self.attn_norm, self.mlp_norm)
        if self.head_dim > 512 or any(n.scaled.dtype != torch.float32 for n in norms):
            return None
        qkv, o, gate_up, down = (native.linear_args(p) for p in parts)
        return native.LayerArgs(
            qkv,
            o,
            gate_up,
            down,
            self.attn_norm.scaled.data_ptr(),
            self.mlp_norm.scaled.data_ptr(),
            float(self.attn_norm.eps_term),
            float(self.mlp_norm.eps_term),
            self.heads,
            self.kv_heads,
            self.head_dim,
            int(self.down.in_features),
            self.scaling,
        )

    def _project(
        self, h: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """q, k (rotated) and v, each [1, tokens, heads, head dim]. Fused, q and k are side by
        side in one output and rotated together."""
        n, dim = h.shape[1], self.head_dim
        if self.qkv.fused is not None:
            out = self.qkv.fused(h)
            qk = _rotate(out[..., : self.qk_width].view(1, n, -1, dim), rope)
            v = out[..., self.qk_width :].view(1, n, self.kv_heads, dim)
            return qk[:, :, : self.heads], qk[:, :, self.heads :], v
        q, k, v = self.qkv(h)
        return (
            _rotate(q.view(1, n, self.heads, dim), rope),
            _rotate(k.view(1, n, self.kv_heads, dim), rope),
            v.view(1, n, self.kv_heads, dim),
        )

    def _attend_one(self, q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor) -> Any:
        """One query's attention as two batched matmuls per KV head, the query heads that share
        a KV head stacked (GQA): 32 us against SDPA's 58 at 300 cached tokens, 62 against 97
        at 1,000 (2 threads, Zen 4)."""
        groups = self.heads // self.kv_heads
        stacked = q.reshape(self.kv_heads, groups, self.head_dim)
        length = keys.shape[1]
        scores = torch.baddbmm(
            torch.empty(self.kv_heads, groups, length, dtype=q.dtype),
            stacked,
            keys.transpose(1, 2),
            beta=0,
            alpha=self.scaling,
        )
        return torch.bmm(torch.softmax(scores, dim=-1), values)


@dataclass
class Output:
    logits: torch.Tensor


class LlamaForward(nn.Module):
    """The model's forward, called like transformers' (`input_ids` or `inputs_embeds`, the cache
    by keyword, `logits_to_keep`) with a `KVCache` from `new_cache`."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        inner = model.model
        self.config = model.config
        self.generation_config = getattr(model, "generation_config", None)
        self.embed = inner.embed_tokens
        self.layers = nn.ModuleList()
        for i, layer in enumerate(inner.layers):
            self.layers.append(Layer(layer, model.config))
            inner.layers[i] = nn.Identity()  # drop the unfused projections now, not at the end
        self.norm = RMSNorm(inner.norm)
        self.rotary = inner.rotary_emb
        self.lm_head = shortlist_head(model.lm_head)
        self.act_dtype = inner.norm.weight.dtype
        self._cos = self._sin = torch.empty(0)
        self._native: Any = None  # the layers' native.LayerArgs (a ctypes array), once prepared

    @property
    def dtype(self) -> torch.dtype:
        return self.act_dtype

    def get_input_embeddings(self) -> nn.Module:
        return self.embed

    def get_output_embeddings(self) -> nn.Module:
        return self.lm_head

    def new_cache(self) -> KVCache:
        first = cast(Layer, self.layers[0])
        return KVCache(len(self.layers), first.kv_heads, first.head_dim, torch.float32)

    def _rope(self, start: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        end = start + n
        if self._cos.shape[0] < end:
            length = -(-max(end, 2 * self._cos.shape[0]) // CACHE_STEP) * CACHE_STEP
            positions = torch.arange(length)[None]
            probe = torch.empty(0, dtype=self.act_dtype)
            cos, sin = self.rotary(probe, positions)
            half = sin.shape[-1] // 2
            sin[..., :half] *= -1  # rotate_half's sign (see _rotate)
            self._cos, self._sin = cos[0, :, None], sin[0, :, None]  # [positions, 1, head dim]
        return self._cos[start:end], self._sin[start:end]

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        logits_to_keep: int = 0,
        **kwargs: Any,
    ) -> Output:
        cache = kwargs.get("cache") or kwargs.get("past_key_values")
        if not isinstance(cache, KVCache):
            raise TypeError("LlamaForward needs the KVCache from its new_cache()")
        x = self.embed(input_ids) if inputs_embeds is None else inputs_embeds
        x = x.to(self.act_dtype)
        n = x.shape[1]
        start = cache.length
        cache.reserve(start + n)
        rope = self._rope(start, n)
        mask = None
        if n > 1 and start > 0:  # a chunk after cached tokens: row i sees keys 0..start+i
            mask = torch.ones(n, start + n, dtype=torch.bool).tril(diagonal=start)
        few = n <= NATIVE_TOKENS and x.dtype == torch.float32
        layers = self._native_layers() if few else None
        if layers is not None:
            x = self._decode_native(layers, x, rope, cache, start)
        else:
            for i, layer in enumerate(self.layers):
                x = layer(x, rope, cache.keys[i], cache.values[i], start, mask)
        cache.length = start + n
        if logits_to_keep:
            x = x[:, -logits_to_keep:]
        x = self.norm(x)
        return Output(logits=self.lm_head(x))

    def _native_layers(self) -> Any:
        """Every layer's arguments for the C `decode_layer`, made at the first decoded token
        (the weights are prepared by then), or None where a layer cannot run there."""
        from desktop_assistant.inference import native

        kernel = native.kernel()
        if kernel is None or kernel.layers_function is None:
            return None
        if self._native is None:
            found = [cast(Layer, layer).native_args() for layer in self.layers]
            ok = all(a is not None for a in found)
            self._native = (native.LayerArgs * len(found))(*found) if ok else []
        return self._native or None

    def _decode_native(
        self,
        layers: Any,
        x: torch.Tensor,
        rope: tuple[torch.Tensor, torch.Tensor],
        cache: KVCache,
        start: int,
    ) -> torch.Tensor:
        """A few tokens through every layer in one call of the C kernel (the same maths as
        Layer.forward: ~35 torch ops and four kernel calls per layer)."""
        from desktop_assistant.inference import native

        kernel = cast(native.Kernel, native.kernel())
        n = x.shape[1]
        x = x.reshape(n, -1).contiguous().clone()  # updated in place
        cos, sin = (r.reshape(n, -1).contiguous() for r in rope)
        kernel.decode_layers(layers, x, (cos, sin), cache.keys, cache.values, start)
        return x.view(1, n, -1)


def build(model: Any) -> LlamaForward | None:
    """Our forward over `model`'s weights (fusing its projections), or None when not supported.
    It takes the layers out of `model`, which is no longer usable. Call before
    `quantize.prepare`: fusing int8 layers needs their unpacked weights."""
    if not supported(model):
        return None
    return LlamaForward(model).eval()


def build_text_part(model: Any) -> LlamaForward | None:
    """`build` for the language model inside a vision-language model (Idefics3 / SmolVLM:
    `model.model.text_model` and `model.lm_head`); the vision encoder is left as it is."""
    from types import SimpleNamespace

    inner = getattr(model, "model", None)
    text_model = getattr(inner, "text_model", None)
    config = getattr(model.config, "text_config", None)
    if text_model is None or config is None:
        return None
    part = SimpleNamespace(
        model=text_model,
        lm_head=getattr(model, "lm_head", None),
        config=config,
        generation_config=getattr(model, "generation_config", None),
    )
    return build(part)
