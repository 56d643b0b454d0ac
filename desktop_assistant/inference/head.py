"""The shortlist head: a large vocabulary's logits for a decoded token from the top four bits
of the output layer's weights, with the likeliest tokens computed exactly.

Decoding reads every weight of the model once per token, and the output layer is a big part
of them: Qwen2.5-0.5B's is 151,936 x 896, 136 MB of the 0.49 GB of int8 weights a token
reads. On a CPU that decodes at memory speed (an AVX2 laptop reads 15-20 GB/s), that is more
than a quarter of each step. So the head keeps its int8 weights as two planes of nibbles
(int8_linear.c's `nibble_split`: w = 16 * high + low), and for a few rows (a decoded token, a
prompt-lookup draft) reads only the high plane, as 4-bit weights, to rank the tokens; the
`SHORTLIST` best are then computed from both planes by the int8 kernel, to the bit what the
int8 head gives them, and those logits replace the 4-bit ones. Half the bytes per token, the
same memory as the int8 rows.

Measured on Qwen2.5-Coder-0.5B-Instruct's head over 1,500 positions of English and code
(fp32 hidden states, the high plane's 4-bit weights): the 4-bit logits alone agree with int8
on the top token 84% of the time, but the int8 top token was among their 8 best every time,
and the int8 top 40 (the sampler's default top_k) among their 64 best for 99.3% of those
tokens, among their 128 best for 99.99%. So the best 128 are computed exactly: greedy
decoding and top-k sampling see the int8 head's logits; only the tokens beyond keep 4-bit
ones (KL 0.0041 from the int8 distribution over the whole vocabulary, 0.0058 with 64, which
only sampling without a top-k limit would feel). In C (`planes_linear`) those 128 cost 0.03
ms a token; ranking the vocabulary (`int4_scores`, then torch's topk) about 1.3 ms on 2 cores
of a Zen 4, where the int8 head took 2.7 ms.

More rows at once (`bench quality`; prefill keeps the last token's logits only, so it is a
single row here too) are computed from the int8 weights, put back together a block at a time.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from desktop_assistant.inference.quant_cache import release_pages

SHORTLIST = 128  # tokens computed exactly from the int8 rows
MIN_VOCABULARY = 16384  # smaller heads are read in int8 (the saving would be small)
MAX_ROWS = 16  # the decode path's tokens (llama_forward.NATIVE_TOKENS)
BLOCK_ROWS = 4096  # rows split (or put back together) at a time


class ShortlistHead(nn.Module):
    """An int8 output layer (a DynamicInt8Linear on our kernel) as two nibble planes; see the
    module doc. `exact` keeps the layer's scales, bias and row sums; its weight is dropped."""

    def __init__(self, exact: Any, kernel: Any) -> None:
        super().__init__()
        self.exact = exact
        self.in_features, self.out_features = exact.in_features, exact.out_features
        self._kernel = kernel
        self.high: Any = None  # [N, K / 2] uint8 nibble planes, once prepared
        self.low: Any = None
        self._high_sum: Any = None
        self._scales: Any = None
        self._scale4: Any = None
        self._offset4: Any = None

    def bytes_per_token(self) -> int:
        """What a decoded token reads of the weights: the high plane and its per-row numbers."""
        self.prepare()
        return int(self.high.numel()) + 12 * self.out_features

    def prepare(self) -> None:
        """Split the int8 weight into the planes (0.1 s for Qwen2.5-0.5B on 2 cores), a block
        of rows at a time; the blocks of a weight mapped from the quantized-weights cache are
        given back to the system as they are done, so that memory peaks no higher than with
        the int8 weight alone."""
        if self.high is not None:
            return
        self.exact.prepare()  # its row sums (the int8 path's zero-point term)
        weight = self.exact.weight
        n, k = weight.shape
        self.high = torch.empty(n, k // 2, dtype=torch.uint8)
        self.low = torch.empty(n, k // 2, dtype=torch.uint8)
        self._high_sum = torch.empty(n, dtype=torch.int32)
        for start in range(0, n, BLOCK_ROWS):
            rows = slice(start, min(n, start + BLOCK_ROWS))
            high, low, sums = self._kernel.nibble_split(weight[rows].contiguous())
            self.high[rows], self.low[rows], self._high_sum[rows] = high, low, sums
            release_pages(weight, rows)
        scales = self._scales = self.exact.scales.float().reshape(-1).contiguous()
        self._scale4 = (scales * 16).contiguous()
        self._offset4 = (scales * 7.5).contiguous()  # the low bits' middle, (0 + 15) / 2
        self.exact.weight = torch.empty(0, k, dtype=torch.int8)

    def rows(self, ids: torch.Tensor) -> torch.Tensor:
        """The int8 weights of rows `ids` (any shape), as [*ids.shape, K] int16."""
        high, low = self.high[ids], self.low[ids]
        blocks = (*ids.shape, self.in_features // 64, 32)
        high, low = high.view(blocks), low.view(blocks)
        high = torch.cat([high & 15, high >> 4], dim=-1).to(torch.int16) - 8
        low = torch.cat([low & 15, low >> 4], dim=-1).to(torch.int16)
        return (high * 16 + low).reshape(*ids.shape, self.in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.prepare()
        shape = x.shape
        flat = x.reshape(-1, shape[-1]).float().contiguous()
        if flat.shape[0] > MAX_ROWS:
            logits = self._all_exact(flat)
        else:
            logits = self._kernel.int4_scores(
                flat, self.high, self._scale4, self._high_sum, self._offset4
            )
            ids = logits.topk(min(SHORTLIST, self.out_features), dim=-1).indices  # [M, S]
            exact = self.exact
            best = self._kernel.planes_linear(
                flat, (self.high, self.low), self._scales, exact._row_sums, exact.bias, ids
            )
            logits.scatter_(1, ids, best)
        return logits.reshape(*shape[:-1], self.out_features).to(x.dtype)

    def _exact(self, flat: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """The int8 head's logits of tokens `ids` (1-d): its kernel on those rows, so the same
        sums and the same float steps as the whole head, to the bit."""
        exact = self.exact
        weight = self.rows(ids).to(torch.int8).contiguous()
        scales = exact.scales.reshape(-1)[ids].contiguous()
        bias = exact.bias[ids].contiguous() if exact.bias is not None else None
        return self._kernel.linear(flat, weight, scales, exact._row_sums[ids], bias)

    def _all_exact(self, flat: torch.Tensor) -> torch.Tensor:
        """Every logit from the int8 weights, a block of rows at a time."""
        blocks = torch.arange(self.out_features).split(BLOCK_ROWS)
        return torch.cat([self._exact(flat, ids) for ids in blocks], dim=1)


def will_shortlist(head: Any) -> bool:
    """Whether `shortlist_head` makes `head` a ShortlistHead: a large int8 output layer that
    our kernel runs (DESKTOP_ASSISTANT_SHORTLIST=0 turns it off, for comparisons)."""
    from desktop_assistant.inference import native
    from desktop_assistant.inference.quantize import DynamicInt8Linear

    if not isinstance(head, DynamicInt8Linear) or head.out_features < MIN_VOCABULARY:
        return False
    if os.environ.get("DESKTOP_ASSISTANT_SHORTLIST", "1") == "0":
        return False
    kernel = native.kernel()
    if kernel is None or kernel.split_function is None:
        return False
    return head.in_features % native.K_MULTIPLE == 0 and head.passes == 1


def shortlist_head(head: Any) -> Any:
    """`head` as a ShortlistHead where `will_shortlist`, else `head` itself."""
    from desktop_assistant.inference import native

    return ShortlistHead(head, native.kernel()) if will_shortlist(head) else head
