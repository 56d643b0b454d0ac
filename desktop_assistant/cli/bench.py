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
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # window benchmarks, headless
    if args.bench_command == "startup":
        result = bench_startup(args.runs)
    elif args.bench_command == "chat":
        result = bench_chat(
            args.bench_model,
            args.prompt_tokens,
            args.new_tokens,
            args.runs,
            args.quant,
            args.turns,
            args.forward,
            args.lookup == "on",
        )
    elif args.bench_command == "image":
        result = bench_image(
            args.bench_model,
            args.bench_image,
            args.detail == "high",
            args.new_tokens,
            args.runs,
            args.quant,
        )
    elif args.bench_command == "quality":
        from desktop_assistant.cli.bench_quality import bench_quality

        result = bench_quality(args.bench_model, args.quant, args.tokens)
    elif args.bench_command == "history":
        result = bench_history()
    elif args.bench_command == "stt":
        from desktop_assistant.cli.speech_eval import bench_stt

        result = bench_stt(
            args.stt_model,
            args.audio,
            args.runs,
            args.language,
            args.command_audio,
            args.beam_size,
        )
    elif args.bench_command == "lookup":
        from desktop_assistant.cli.bench_lookup import bench_lookup

        result = bench_lookup(args.bench_model, args.new_tokens, args.runs)
    elif args.bench_command == "soak":
        from desktop_assistant.ui.bench_soak import bench_soak

        result = bench_soak(args)
    elif args.bench_command == "documents":
        from desktop_assistant.cli.bench_documents import QUESTION, bench_documents

        if args.pdf and not args.question:
            raise UserError("with --pdf, say what to ask with --question")
        result = bench_documents(args.pdf, args.pages, args.bench_model, args.question or QUESTION)
    elif args.bench_command == "window":
        from desktop_assistant.ui.bench_window import measure_streaming

        result = measure_streaming(args.bench_model, LONG_TASK, args.new_tokens)
    else:  # argparse makes this unreachable
        raise UserError(f"unknown benchmark {args.bench_command}")
    result = {**result, **_machine(result)}
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    return 0


def _machine(result: dict[str, Any]) -> dict[str, Any]:
    """The CPU the figures were taken on: compare figures only within one machine. Torch's
    kernel family and the int8 scheme when the benchmark loaded torch (startup does not)."""
    from desktop_assistant.core.cpu import describe

    out = describe()
    if "torch" in sys.modules:
        import torch

        from desktop_assistant.inference.quantize import dynamic_weight_max

        out["cpu_capability"] = torch.backends.cpu.get_cpu_capability()
        out["int8_weight_max"] = dynamic_weight_max()
    return {key: value for key, value in out.items() if key not in result}


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


def _import_seconds() -> float:
    """How long importing torch and transformers takes in a new process here, the yardstick
    for a cached model's load (issue 17: at most 1.5 times this)."""
    code = "import time; t = time.perf_counter(); import torch, transformers; "
    code += "print(time.perf_counter() - t)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    )
    return float(result.stdout.strip().splitlines()[-1])


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory_bandwidth_gb_s() -> float:
    """Copy bandwidth with torch's threads (bytes read + written per second)."""
    import torch

    src = torch.ones(64 * 1024 * 1024)  # 256 MB
    dst = torch.empty_like(src)
    dst.copy_(src)
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        dst.copy_(src)
        best = min(best, time.perf_counter() - started)
    return 2 * src.numel() * src.element_size() / best / 1e9


def weight_bytes_per_token(model: Any) -> int:
    """Bytes of weights one decoded token reads: everything but the input embedding table
    (a lookup reads a few rows), counting tied tensors once; of a shortlist head (head.py),
    its 4-bit plane."""
    from desktop_assistant.inference.head import ShortlistHead

    embedding = model.get_input_embeddings()
    skip = {id(t) for t in list(embedding.parameters()) + list(embedding.buffers())}
    head = model.get_output_embeddings()
    if isinstance(head, ShortlistHead):
        return _tensor_bytes(model, skip) + head.bytes_per_token()
    if head is not None:  # tied: the lm_head reads the shared table
        skip -= {id(t) for t in list(head.parameters()) + list(head.buffers())}
    return _tensor_bytes(model, skip)


def _tensor_bytes(model: Any, skip: set[int]) -> int:
    seen: set[int] = set()
    total = 0
    for tensor in list(model.parameters()) + list(model.buffers()):
        if id(tensor) in skip or id(tensor) in seen:
            continue
        seen.add(id(tensor))
        total += tensor.numel() * tensor.element_size()
    return total + _packed_bytes(model)


def _packed_bytes(model: Any) -> int:
    from desktop_assistant.inference.quantize import packed_bytes

    return sum(packed_bytes(m) for m in model.modules())


def _all_bytes(model: Any) -> int:
    tensors = {id(t): t for t in list(model.parameters()) + list(model.buffers())}
    return sum(t.numel() * t.element_size() for t in tensors.values()) + _packed_bytes(model)


def bench_chat(
    model: str,
    prompt_tokens: int,
    new_tokens: int,
    runs: int,
    quant: str = "auto",
    turns: int = 1,
    forward: str = "own",
    lookup: bool = True,
) -> dict[str, Any]:
    """Cold runs (prompt cache emptied first) for prefill and decode speed; with turns > 1,
    a conversation where each turn reuses the previous turns' KV cache."""
    import torch

    from desktop_assistant.core.conversation import Message
    from desktop_assistant.inference.causal_lm import CausalLMEngine
    from desktop_assistant.inference.options import GenerationOptions
    from desktop_assistant.inference.prompt import prompt_ids

    import_s = _import_seconds()
    engine = CausalLMEngine(model, precision=quant, own_forward=forward == "own")
    engine.prompt_lookup = lookup
    started = time.perf_counter()
    engine.load()
    load_s = time.perf_counter() - started
    tokenizer = engine.tokenizer
    filler = ""
    while len(prompt_ids(tokenizer, [Message("user", filler + LONG_TASK)])) < prompt_tokens:
        filler += FILLER
    question = [Message("user", filler + LONG_TASK)]
    options = GenerationOptions(max_new_tokens=new_tokens, temperature=0, repetition_penalty=1.0)
    engine.generate(question, GenerationOptions(max_new_tokens=4, temperature=0), lambda t: None)
    results = []
    for _ in range(runs):
        engine.reset_cache()
        results.append(engine.generate(question, options, lambda t: None).stats)
    ttft = statistics.median(s.ttft_s for s in results)
    decode = statistics.median(s.decode_tok_s for s in results)
    peak_rss = _peak_rss_mb()  # before the bandwidth test's 512 MB of buffers
    bandwidth = memory_bandwidth_gb_s()
    per_token = weight_bytes_per_token(engine.model)
    bound = bandwidth * 1e9 / per_token
    out: dict[str, Any] = {
        "model": engine.name,
        "precision": engine.precision,
        "forward": type(engine.model).__name__,
        "prompt_lookup": lookup,
        "threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "load_s": round(load_s, 2),
        "import_s": round(import_s, 2),
        "load_over_import": round(load_s / import_s, 2),
        "prompt_tokens": results[0].prompt_tokens,
        "new_tokens": statistics.median(s.new_tokens for s in results),
        "ttft_s": round(ttft, 3),
        "prefill_tok_s": round(results[0].prompt_tokens / ttft, 1),
        "decode_tok_s": round(decode, 2),
        "peak_rss_mb": round(peak_rss),
        "weights_mb": round(_all_bytes(engine.model) / 2**20),
        "bandwidth_gb_s": round(bandwidth, 1),
        "bandwidth_bound_tok_s": round(bound, 1),
        "fraction_of_bound": round(decode / bound, 3),
    }
    if turns > 1:
        out["turn_ttft_s"] = _conversation_ttfts(engine, question, turns, new_tokens)
    return out


def _conversation_ttfts(engine: Any, first: list, turns: int, new_tokens: int) -> list[float]:
    from desktop_assistant.core.conversation import Message
    from desktop_assistant.inference.options import GenerationOptions

    options = GenerationOptions(max_new_tokens=new_tokens, temperature=0, repetition_penalty=1.0)
    engine.reset_cache()
    history = list(first)
    ttfts = []
    for turn in range(turns):
        reply = engine.generate(history, options, lambda t: None)
        ttfts.append(round(reply.stats.ttft_s, 3))
        history += [
            Message("assistant", reply.text),
            Message("user", f"Thank you. Now, for part {turn + 2}, go on with the next decade."),
        ]
    return ttfts


def bench_image(
    model: str, image: str, high_detail: bool, new_tokens: int, runs: int, quant: str = "auto"
) -> dict[str, Any]:
    """A question about a picture, cold each run (pictures and KV cache forgotten: a new
    picture sent), then the same question about the picture read ahead (as the window reads
    an attached picture while the question is typed), a follow-up that reuses the picture's
    KV cache, and the same follow-up cold (what the reuse saves)."""
    from pathlib import Path

    import psutil
    import torch

    from desktop_assistant.core.conversation import Message
    from desktop_assistant.inference.options import GenerationOptions
    from desktop_assistant.inference.vision import VisionChatEngine

    import_s = _import_seconds()
    engine = VisionChatEngine(model, precision=quant)
    started = time.perf_counter()
    engine.load()
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    engine.warm_up()  # as the window does once the model is ready
    warm_up_s = time.perf_counter() - started
    options = GenerationOptions(
        max_new_tokens=new_tokens, temperature=0, repetition_penalty=1.0, high_detail=high_detail
    )
    question = [Message("user", "Describe this picture in detail.", (Path(image),))]
    results = []
    for _ in range(max(1, runs)):
        engine.reset_cache()
        reply = engine.generate(question, options, lambda t: None)
        results.append(reply.stats)
    ahead = []
    for _ in range(max(1, runs)):
        engine.reset_cache()
        engine.prepare_pictures([Path(image)], high_detail)
        ahead.append(engine.generate(question, options, lambda t: None).stats.ttft_s)
    follow = question + [
        Message("assistant", reply.text),
        Message("user", "What colours are in the top left corner of the picture?"),
    ]
    warm = engine.generate(follow, options, lambda t: None).stats
    engine.reset_cache()
    cold = engine.generate(follow, options, lambda t: None).stats

    def median(field: str) -> float:
        return round(statistics.median(getattr(s, field) for s in results), 3)

    return {
        "model": engine.name,
        "precision": engine.precision,
        "vision_precision": engine.vision_precision,
        "threads": torch.get_num_threads(),
        "load_s": round(load_s, 2),
        "import_s": round(import_s, 2),
        "load_over_import": round(load_s / import_s, 2),
        "warm_up_s": round(warm_up_s, 2),  # after the model is ready (the window's)
        "high_detail": high_detail,
        "image_tokens": results[0].image_tokens,
        "prompt_tokens": results[0].prompt_tokens,
        "preprocess_s": median("preprocess_s"),
        "vision_s": median("vision_s"),
        "ttft_s": median("ttft_s"),
        "ttft_s_best": round(min(s.ttft_s for s in results), 3),
        "read_ahead_ttft_s": round(statistics.median(ahead), 3),
        "decode_tok_s": median("decode_tok_s"),
        "followup_ttft_s": round(warm.ttft_s, 3),
        "followup_cached_tokens": warm.cached_tokens,
        "followup_vision_s": round(warm.vision_s, 3),
        "followup_cold_ttft_s": round(cold.ttft_s, 3),
        "peak_rss_mb": round(_peak_rss_mb()),
        "rss_mb": round(psutil.Process().memory_info().rss / 2**20),  # after the runs
    }


def bench_history(conversations: int = 1000, per_conversation: int = 50) -> dict[str, Any]:
    """Storage figures over a generated history (in a temporary folder), then the window."""
    import random
    import tempfile
    from pathlib import Path

    from desktop_assistant.storage.history import History

    words = (FILLER + LONG_TASK).replace(",", "").replace(".", "").split()
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "history.sqlite3"
        history = History(path)
        history.db.execute("PRAGMA synchronous = OFF")  # only for building the fixture fast
        started = time.perf_counter()
        history.db.execute("BEGIN")
        for c in range(conversations):
            cid = history.create_conversation(f"Conversation {c}")
            for m in range(per_conversation):
                text = " ".join(rng.choice(words) for _ in range(rng.randint(10, 60)))
                history.db.execute(
                    "INSERT INTO messages (conversation_id, role, content, state, created_at, "
                    "updated_at) VALUES (?, ?, ?, 'complete', ?, ?)",
                    (cid, "user" if m % 2 == 0 else "assistant", text, c + m / 100, c),
                )
        long_id = history.create_conversation("Long conversation")
        for m in range(500):
            text = " ".join(rng.choice(words) for _ in range(rng.randint(10, 60)))
            history.db.execute(
                "INSERT INTO messages (conversation_id, role, content, state, created_at, "
                "updated_at) VALUES (?, ?, ?, 'complete', ?, ?)",
                (long_id, "user" if m % 2 == 0 else "assistant", text, 1e9 + m, 1e9 + m),
            )
        history.db.execute("COMMIT")
        build_s = time.perf_counter() - started
        history.close()

        def timed(action: Any) -> tuple[Any, float]:
            begin = time.perf_counter()
            result = action()
            return result, (time.perf_counter() - begin) * 1000

        opened, open_ms = timed(lambda: History(path))
        listed, list_ms = timed(opened.list_conversations)
        searches = [
            timed(lambda q=q: opened.search(q))[1] for q in ("transistors", "decade rooms", "micro")
        ]
        loaded, load_ms = timed(lambda: opened.messages(long_id))
        opened.close()
        from desktop_assistant.ui.bench_window import measure_conversation_view

        view = measure_conversation_view(path, long_id, 500)
    return {
        "conversations": conversations + 1,
        "messages": conversations * per_conversation + 500,
        "build_s": round(build_s, 1),
        "open_and_list_ms": round(open_ms + list_ms, 1),
        "listed": len(listed),
        "search_ms_max": round(max(searches), 1),
        "load_500_messages_ms": round(load_ms, 1),
        "loaded": len(loaded),
        **view,
    }
