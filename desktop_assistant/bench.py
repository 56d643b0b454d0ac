"""`desktop-assistant bench ...`: measurements that print figures (targets live here, not in
timed tests)."""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

from desktop_assistant.core.errors import UserError

LONG_TASK = (
    "Write a long, detailed essay about the history of computing, from mechanical calculators "
    "to modern laptops, with many paragraphs."
)
FILLER = (
    "Background notes: the first electronic computers filled whole rooms, used vacuum tubes, "
    "and were programmed with switches and cables. Transistors, integrated circuits and "
    "microprocessors made them smaller, cheaper and faster with every decade. "
)


def run(args: Any) -> int:
    if args.bench_command == "startup":
        result = bench_startup(args.runs)
    elif args.bench_command == "chat":
        result = bench_chat(args.bench_model, args.prompt_tokens, args.new_tokens, args.runs)
    elif args.bench_command == "window":
        from desktop_assistant.ui.bench_window import measure_streaming

        result = measure_streaming(args.bench_model, LONG_TASK, args.new_tokens)
    else:  # argparse makes this unreachable
        raise UserError(f"unknown benchmark {args.bench_command}")
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    return 0


def bench_startup(runs: int) -> dict[str, Any]:
    """Launch to painted window, measured from outside the process (interpreter start included)."""
    env = dict(os.environ)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    times, torch_seen = [], False
    for _ in range(max(1, runs)):
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "desktop_assistant", "--quit-after-paint"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        assert proc.stdout is not None
        line = proc.stdout.readline()
        times.append(time.perf_counter() - started)
        proc.wait(timeout=60)
        if not line.strip():
            raise RuntimeError("the app exited without painting its window")
        torch_seen |= bool(json.loads(line)["torch_imported"])
    return {
        "platform": env["QT_QPA_PLATFORM"],
        "runs": len(times),
        "paint_s_median": round(statistics.median(times), 3),
        "paint_s_max": round(max(times), 3),
        "torch_imported_before_paint": torch_seen,
    }


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_chat(model: str, prompt_tokens: int, new_tokens: int, runs: int) -> dict[str, Any]:
    from desktop_assistant.core.conversation import Message
    from desktop_assistant.inference.causal_lm import CausalLMEngine
    from desktop_assistant.inference.options import GenerationOptions
    from desktop_assistant.inference.prompt import prompt_ids

    engine = CausalLMEngine(model)
    started = time.perf_counter()
    engine.load()
    load_s = time.perf_counter() - started
    tokenizer = engine._tokenizer
    filler = ""
    question = [Message("user", LONG_TASK)]
    while len(prompt_ids(tokenizer, [Message("user", filler + LONG_TASK)])) < prompt_tokens:
        filler += FILLER
    question = [Message("user", filler + LONG_TASK)]
    options = GenerationOptions(max_new_tokens=new_tokens, temperature=0, repetition_penalty=1.0)
    engine.generate(question, GenerationOptions(max_new_tokens=4, temperature=0), lambda t: None)
    results = [engine.generate(question, options, lambda t: None).stats for _ in range(runs)]
    ttft = statistics.median(s.ttft_s for s in results)
    import torch

    return {
        "model": engine.name,
        "dtype": str(engine._model.dtype).replace("torch.", ""),
        "threads": torch.get_num_threads(),
        "load_s": round(load_s, 2),
        "prompt_tokens": results[0].prompt_tokens,
        "new_tokens": statistics.median(s.new_tokens for s in results),
        "ttft_s": round(ttft, 3),
        "prefill_tok_s": round(results[0].prompt_tokens / ttft, 1),
        "decode_tok_s": round(statistics.median(s.decode_tok_s for s in results), 2),
        "peak_rss_mb": round(_peak_rss_mb()),
    }
