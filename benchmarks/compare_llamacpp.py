#!/usr/bin/env python3
"""Baseline: our engine's chat speed next to llama.cpp's on the same model (a dev-only tool).

llama.cpp runs through llama-cpp-python, a dev-only dependency installed in a venv of its own
(default ../llama-venv beside this repository, built from source for this CPU, with
`python -m venv ../llama-venv && ../llama-venv/bin/pip install llama-cpp-python`;
../llama-venv-avx2 for an
AVX2-only build). This file imports nothing but the standard library at its top level, so it
runs from either venv; it starts every measurement in a subprocess:

* llama.cpp: this same file, run by --llama-python with the hidden `--worker` flag. It loads
  the GGUF (n_ctx=2048, n_threads=--threads), builds the chat prompt exactly as
  `desktop_assistant/cli/bench.py` does (filler text repeated before the long task until the
  templated prompt has at least --prompt-tokens tokens; the chat template is the GGUF's own,
  rendered with jinja2 like transformers does), then, for each of --runs warm runs, clears the
  KV cache, evaluates the prompt and generates --new-tokens tokens greedily, never stopping at
  an end-of-generation token (those are masked out of the argmax).
  prefill_tok_s = prompt tokens / time to the first new token (prompt evaluation + first pick);
  decode_tok_s = (new tokens - 1) / time for the rest; peak_rss_mb = the worker's ru_maxrss.
* ours: `.venv/bin/python -m desktop_assistant bench chat ... --json` once per --quant value,
  with prompt-lookup decoding on (as the app runs) and off (plain decoding, one token per
  forward pass like llama.cpp here), unless --lookup says one.

Usage:
    python benchmarks/compare_llamacpp.py                      # int4,int8,bf16 vs llama.cpp
    python benchmarks/compare_llamacpp.py --skip-ours --runs 2 # llama.cpp alone
    python benchmarks/compare_llamacpp.py --avx2 --quant int4  # both limited to AVX2
    python benchmarks/compare_llamacpp.py --json                # one JSON object on stdout

The models default to $DESKTOP_ASSISTANT_TEST_MODELS (default ~/.cache/desktop-assistant-dev):
qwen2.5-coder-0.5b-instruct-q4_k_m.gguf and the qwen2.5-coder-0.5b-instruct folder beside it.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _bench_constants(*names: str) -> tuple[str, ...]:
    """The same prompt text as `bench chat`, read from desktop_assistant/cli/bench.py's source:
    importing the package would need its dependencies, which llama.cpp's venv does not have."""
    tree = ast.parse((ROOT / "desktop_assistant" / "cli" / "bench.py").read_text())
    found = {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Name)
        and node.targets[0].id in names
    }
    return tuple(found[name] for name in names)


FILLER, LONG_TASK = _bench_constants("FILLER", "LONG_TASK")

OUR_PYTHON = ROOT / ".venv" / "bin" / "python"
AVX2_ENV = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "FBGEMM_ENABLE_INSTRUCTIONS": "AVX2",
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",
    "DESKTOP_ASSISTANT_NO_AVX_VNNI": "1",  # plain AVX2, as on Zen 3 (native.py)
}
GGUF_NAME = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
HF_NAME = "qwen2.5-coder-0.5b-instruct"
COMPARED = ("prefill_tok_s", "decode_tok_s")


def models_dir() -> Path:
    default = Path.home() / ".cache" / "desktop-assistant-dev"
    return Path(os.environ.get("DESKTOP_ASSISTANT_TEST_MODELS") or default).expanduser()


# --------------------------------------------------------------------------------------------
# The llama.cpp side (runs inside the llama-cpp-python venv)


def _chatml(messages: list[dict[str, str]]) -> str:
    text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    return text + "<|im_start|>assistant\n"


def _template_renderer(template: str | None, bos: str, eos: str) -> Any:
    """A function messages -> prompt text, using the GGUF's chat template when it has one."""
    if not template:
        return _chatml, "plain ChatML (the GGUF has no chat template)"
    from jinja2.sandbox import ImmutableSandboxedEnvironment  # a llama-cpp-python dependency

    def raise_exception(message: str) -> None:
        raise ValueError(message)

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"]
    )
    env.globals["raise_exception"] = raise_exception
    compiled = env.from_string(template)

    def render(messages: list[dict[str, str]]) -> str:
        return compiled.render(
            messages=messages, add_generation_prompt=True, bos_token=bos, eos_token=eos
        )

    return render, "the GGUF's chat template"


def llama_worker(opts: dict[str, Any]) -> dict[str, Any]:
    import llama_cpp
    import numpy as np

    started = time.perf_counter()
    llm = llama_cpp.Llama(
        model_path=opts["gguf"],
        n_ctx=2048,
        n_batch=512,
        n_threads=opts["threads"],
        n_threads_batch=opts["threads"],
        verbose=False,
    )
    load_s = time.perf_counter() - started
    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    n_vocab = llm.n_vocab()

    def piece(token: int) -> str:
        return llm.detokenize([token], special=True).decode("utf-8", "replace")

    render, template_used = _template_renderer(
        llm.metadata.get("tokenizer.chat_template"),
        piece(llm.token_bos()) if llm.token_bos() >= 0 else "",
        piece(llm.token_eos()) if llm.token_eos() >= 0 else "",
    )

    def prompt_ids(user_text: str) -> list[int]:
        text = render([{"role": "user", "content": user_text}])
        return llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)

    filler = ""  # the same construction as desktop_assistant/cli/bench.py
    while len(prompt_ids(filler + LONG_TASK)) < opts["prompt_tokens"]:
        filler += FILLER
    prompt = prompt_ids(filler + LONG_TASK)
    new_tokens = opts["new_tokens"]
    if len(prompt) + new_tokens > llm.n_ctx():
        raise SystemExit(f"{len(prompt)} + {new_tokens} tokens do not fit in n_ctx=2048")

    end_ids = [t for t in range(n_vocab) if llama_cpp.llama_vocab_is_eog(vocab, t)]

    def pick() -> int:
        """Greedy pick from the last evaluated position, never an end-of-generation token."""
        ptr = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
        logits = np.ctypeslib.as_array(ptr, shape=(n_vocab,))
        logits[end_ids] = -np.inf
        return int(np.argmax(logits))

    def generate(count: int) -> tuple[float, float, list[int], float]:
        cpu0 = time.process_time()
        llm.reset()  # n_tokens = 0: eval() then drops the whole KV cache before the prompt
        t0 = time.perf_counter()
        llm.eval(prompt)
        out = [pick()]
        t1 = time.perf_counter()
        for _ in range(count - 1):
            llm.eval([out[-1]])
            out.append(pick())
        t2 = time.perf_counter()
        return t1 - t0, t2 - t1, out, (time.process_time() - cpu0) / (t2 - t0)

    generate(4)  # warm-up, as bench.py does
    runs = [generate(new_tokens) for _ in range(max(1, opts["runs"]))]
    ttft = statistics.median(r[0] for r in runs)
    decode = [(new_tokens - 1) / r[1] for r in runs if new_tokens > 1 and r[1] > 0]
    system_info = llama_cpp.llama_print_system_info()
    if isinstance(system_info, bytes):
        system_info = system_info.decode("utf-8", "replace")
    return {
        "engine": "llama.cpp",
        "llama_cpp_python": llama_cpp.__version__,
        "python": opts["python"],
        "gguf": opts["gguf"],
        "prompt_format": template_used,
        "system_info": system_info.strip(),
        "threads": opts["threads"],
        "n_ctx": llm.n_ctx(),
        "load_s": round(load_s, 2),
        "prompt_tokens": len(prompt),
        "new_tokens": new_tokens,
        "runs": len(runs),
        "ttft_s": round(ttft, 3),
        "prefill_tok_s": round(len(prompt) / ttft, 1),
        "decode_tok_s": round(statistics.median(decode), 2) if decode else 0.0,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        # CPU seconds per wall second during the timed runs: about --threads when the cores
        # were ours alone (OpenMP threads spin); much less means something else shared them.
        "cores_used": round(statistics.median(r[3] for r in runs), 2),
        "sample_text": llm.detokenize(runs[0][2][:40]).decode("utf-8", "replace"),
    }


# --------------------------------------------------------------------------------------------
# The driver


def _last_json(stdout: str) -> dict[str, Any]:
    for line in reversed(stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError("no JSON line in the output")


def other_cpu_load(seconds: float = 1.0) -> float | None:
    """How many cores something else keeps busy right now (from /proc/stat; None elsewhere)."""

    def sample() -> tuple[int, int]:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return sum(fields[:8]), idle

    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    total = total1 - total0
    if total <= 0:
        return None
    return (os.cpu_count() or 1) * (total - (idle1 - idle0)) / total


def _run(cmd: list[str], env: dict[str, str], what: str, wait_idle: float = 0) -> dict[str, Any]:
    print(f"# {what}: {' '.join(cmd)}", file=sys.stderr, flush=True)
    window = 5.0 if wait_idle > 0 else 1.0  # waiting: ask for a longer quiet spell
    busy = other_cpu_load(window)
    deadline = time.monotonic() + wait_idle
    while busy is not None and busy > 0.25 and time.monotonic() < deadline:
        busy = other_cpu_load(window)  # another benchmark is running: let it finish first
    if busy is not None and busy > 0.25:  # llama.cpp's OpenMP threads spin: sharing crawls
        print(
            f"# warning: {busy:.1f} cores busy before {what}: its figures will be low",
            file=sys.stderr,
            flush=True,
        )
    started = time.perf_counter()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"{what} failed (exit {proc.returncode})")
    try:
        result = _last_json(proc.stdout)
    except ValueError as err:
        sys.stderr.write(proc.stdout[-2000:] + proc.stderr[-2000:])
        raise SystemExit(f"{what}: {err}") from err
    # Host load around the run: a busy machine explains odd figures.
    result["cores_busy_before"] = None if busy is None else round(busy, 2)
    result["process_wall_s"] = round(wall, 1)
    result["process_cpu_s"] = round(cpu, 1)
    return result


def run_llama(args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    python = args.llama_python_avx2 if args.avx2 else args.llama_python
    if not Path(python).exists():
        raise SystemExit(f"no llama-cpp-python venv python at {python}")
    opts = {
        "gguf": str(args.gguf),
        "threads": args.threads,
        "prompt_tokens": args.prompt_tokens,
        "new_tokens": args.new_tokens,
        "runs": args.runs,
        "python": python,
    }
    cmd = [python, str(Path(__file__).resolve()), "--worker", json.dumps(opts)]
    return _run(cmd, env, "llama.cpp", args.wait_idle)


def run_ours(
    args: argparse.Namespace, quant: str, env: dict[str, str], lookup: str = "on"
) -> dict[str, Any]:
    cmd = [
        str(args.our_python), "-m", "desktop_assistant", "bench", "chat",
        "--model", str(args.hf), "--quant", quant,
        "--prompt-tokens", str(args.prompt_tokens), "--new-tokens", str(args.new_tokens),
        "--runs", str(args.runs), "--lookup", lookup, "--json",
    ]  # fmt: skip
    result = _run(cmd, env, f"ours ({quant}, lookup {lookup})", args.wait_idle)
    return {"engine": "ours", "quant": quant, "lookup": lookup, **result}


def ratios(ours: dict[str, Any], llama: dict[str, Any]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for key in COMPARED:
        a, b = ours.get(key), llama.get(key)
        out[key] = round(a / b, 3) if isinstance(a, int | float) and b else None
    return out


def table(rows: list[tuple[str, dict[str, Any]]], llama: dict[str, Any] | None) -> str:
    cols = ("prompt_tokens", "ttft_s", "prefill_tok_s", "decode_tok_s", "peak_rss_mb", "load_s")
    head = ["engine"] + list(cols)
    if llama is not None:
        head += ["prefill x", "decode x"]
    lines = [head]
    for name, r in rows:
        line = [name] + [str(r.get(c, "")) for c in cols]
        if llama is not None:
            if r is llama:
                line += ["1", "1"]
            else:
                q = ratios(r, llama)
                line += [str(q[k]) if q[k] is not None else "" for k in COMPARED]
        lines.append(line)
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    return "\n".join(
        "  ".join(c.rjust(w) for c, w in zip(line, widths, strict=True)) for line in lines
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    models = models_dir()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--gguf", type=Path, default=models / GGUF_NAME, metavar="PATH")
    p.add_argument(
        "--hf", type=Path, default=None, metavar="PATH",
        help=f"our model folder (default: {HF_NAME} beside the GGUF)",
    )  # fmt: skip
    p.add_argument("--threads", type=int, default=2, help="llama.cpp threads (and ours' OMP)")
    p.add_argument("--prompt-tokens", type=int, default=256, metavar="N")
    p.add_argument("--new-tokens", type=int, default=128, metavar="N")
    p.add_argument("--runs", type=int, default=3, metavar="N", help="warm runs (median)")
    p.add_argument("--quant", default="int4,int8,bf16", help="our precisions, comma-separated")
    beside = Path(__file__).resolve().parents[2]
    p.add_argument(
        "--llama-python", default=str(beside / "llama-venv" / "bin" / "python"), metavar="PATH"
    )
    p.add_argument(
        "--llama-python-avx2",
        default=str(beside / "llama-venv-avx2" / "bin" / "python"),
        metavar="PATH",
    )
    p.add_argument("--our-python", type=Path, default=OUR_PYTHON, metavar="PATH")
    p.add_argument(
        "--avx2", action="store_true",
        help="limit both to AVX2: ours through " + " ".join(f"{k}={v}" for k, v in AVX2_ENV.items())
        + ", llama.cpp through --llama-python-avx2",
    )  # fmt: skip
    p.add_argument(
        "--lookup",
        choices=("on", "off", "both"),
        default="both",
        help="our prompt-lookup decoding (on in the app); 'both' runs each precision twice",
    )
    p.add_argument("--skip-ours", action="store_true", help="measure llama.cpp only")
    p.add_argument("--skip-llama", action="store_true", help="measure our engine only")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument(
        "--wait-idle", type=float, default=0, metavar="SECONDS",
        help="before each measurement, wait up to this long for the other processes to go quiet",
    )  # fmt: skip
    p.add_argument("--worker", metavar="JSON", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.hf is None:
        args.hf = args.gguf.parent / HF_NAME
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(llama_worker(json.loads(args.worker))))
        return 0
    quants = [q.strip() for q in args.quant.split(",") if q.strip()]
    env = dict(os.environ)
    if args.avx2:
        env.update(AVX2_ENV)
    llama = None if args.skip_llama else run_llama(args, env)
    ours: dict[str, dict[str, Any]] = {}
    if not args.skip_ours:
        our_env = dict(env)
        our_env.setdefault("OMP_NUM_THREADS", str(args.threads))
        lookups = ("on", "off") if args.lookup == "both" else (args.lookup,)
        for quant in quants:
            for lookup in lookups:
                name = quant if lookup == "on" else f"{quant} no-lookup"
                ours[name] = run_ours(args, quant, our_env, lookup)
    rows: list[tuple[str, dict[str, Any]]] = []
    if llama is not None:
        rows.append(("llama.cpp " + ("avx2" if args.avx2 else "native") + " q4_k_m", llama))
    rows += [(f"ours {q}", r) for q, r in ours.items()]
    report = {
        "isa": "avx2" if args.avx2 else "native",
        "threads": args.threads,
        "prompt_tokens": args.prompt_tokens,
        "new_tokens": args.new_tokens,
        "runs": args.runs,
        "llama_cpp": llama,
        "ours": ours,
        "ratios_ours_over_llama_cpp": (
            {q: ratios(r, llama) for q, r in ours.items()} if llama is not None else {}
        ),
    }
    print(table(rows, llama), file=sys.stderr if args.json else sys.stdout)
    if llama is not None and not args.json:
        print(f"\nllama.cpp: {llama['llama_cpp_python']} ({llama['python']})")
        print(f"llama.cpp system info: {llama['system_info']}")
        print(f"llama.cpp cores used while timed: {llama['cores_used']} of {args.threads}")
        print(f"llama.cpp prompt: {llama['prompt_format']}; sample: {llama['sample_text']!r}")
    if args.json:
        print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
