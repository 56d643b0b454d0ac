"""`bench quality`: how close a quantized model's next-token predictions stay to the
unquantized (fp32) model's, over a fixed text every machine has."""

from __future__ import annotations

from typing import Any


def quality_text() -> tuple[str, str]:
    """A fixed English text shipped with every CPython: its licence (about 2,500 tokens)."""
    import sysconfig
    from pathlib import Path

    path = Path(sysconfig.get_paths()["stdlib"]) / "LICENSE.txt"
    try:
        return path.read_text(encoding="utf-8"), str(path)
    except OSError:
        import codecs
        import this  # noqa: F401  (fallback: the Zen of Python, rot13-decoded)

        return codecs.decode(this.s, "rot13") * 20, "the Zen of Python x20"


def bench_quality(model: str, quant: str, tokens: int = 2000) -> dict[str, Any]:
    """Next-token agreement of `quant` with the unquantized (fp32) model over a fixed text;
    with a shortlist head, also as decoding computes the logits (`decode_*`)."""
    import torch

    from desktop_assistant.inference.causal_lm import CausalLMEngine
    from desktop_assistant.inference.compat import with_cache
    from desktop_assistant.inference.generation import new_cache
    from desktop_assistant.inference.head import MAX_ROWS, ShortlistHead

    # the reference runs transformers' own forward: a check of ours (llama_forward) as well
    reference = CausalLMEngine(model, precision="fp32", own_forward=False)
    reference.load()
    tested = CausalLMEngine(model, precision=quant)
    tested.load()
    text, source = quality_text()
    ids = reference.tokenizer(text)["input_ids"][: tokens + 1]
    caches = [new_cache(e.model) for e in (reference, tested)]
    # a shortlist head (head.py) gives a long input the int8 head's logits; decoding, a few
    # rows at a time, gets its 4-bit ranking: measured too, on the same hidden states
    head = tested.model.get_output_embeddings()
    shortlist = isinstance(head, ShortlistHead)
    hidden: list[Any] = []
    if shortlist:
        head.register_forward_pre_hook(lambda module, args: hidden.append(args[0]))
    agree = total = 0
    kl_sum = nll_ref = nll_test = 0.0
    decode = {"agree": 0, "kl": 0.0, "nll": 0.0}
    chunk = 256
    with torch.inference_mode():
        for start in range(0, len(ids) - 1, chunk):
            piece = torch.tensor([ids[start : start + chunk]])
            target = torch.tensor(ids[start + 1 : start + chunk + 1])
            n = len(target)
            logits = [
                e.model(input_ids=piece, use_cache=True, **with_cache(c)).logits[0, :n].float()
                for e, c in zip((reference, tested), caches, strict=True)
            ]
            logp_ref, logp_test = (torch.log_softmax(x, dim=-1) for x in logits)
            agree += int((logp_ref.argmax(-1) == logp_test.argmax(-1)).sum())
            kl_sum += float((logp_ref.exp() * (logp_ref - logp_test)).sum())
            nll_ref -= float(logp_ref.gather(1, target[:, None]).sum())
            nll_test -= float(logp_test.gather(1, target[:, None]).sum())
            total += n
            if shortlist:
                rows = hidden.pop()[0, :n]
                few = torch.cat([head(rows[i : i + MAX_ROWS]) for i in range(0, n, MAX_ROWS)])
                logp = torch.log_softmax(few.float(), dim=-1)
                decode["agree"] += int((logp_ref.argmax(-1) == logp.argmax(-1)).sum())
                decode["kl"] += float((logp_ref.exp() * (logp_ref - logp)).sum())
                decode["nll"] -= float(logp.gather(1, target[:, None]).sum())
    import math

    if shortlist:
        decoded = {
            "decode_top1_agreement": round(decode["agree"] / total, 4),
            "decode_kl_mean": round(decode["kl"] / total, 4),
            "decode_ppl_ratio": round(math.exp((decode["nll"] - nll_ref) / total), 4),
        }
    else:
        decoded = {}
    return {
        "model": reference.name,
        "precision": tested.precision,
        "reference": "fp32",
        "text": source,
        "tokens": total,
        "top1_agreement": round(agree / total, 4),
        "kl_mean": round(kl_sum / total, 4),
        "ppl_reference": round(math.exp(nll_ref / total), 3),
        "ppl_quantized": round(math.exp(nll_test / total), 3),
        "ppl_ratio": round(math.exp((nll_test - nll_ref) / total), 4),
        **decoded,
    }
