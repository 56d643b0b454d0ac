#!/usr/bin/env python3
"""Baseline: an image question's first token, ours against plain transformers (a dev tool).

Same model folder, same picture, same question, same machine, in one run:

* ours: `desktop-assistant bench image --model M --image I --quant Q --json` for each --quant
  (cold each run: pictures and KV cache forgotten); first token = `ttft_s`, from the call to
  the first token (preprocessing, vision encoder, prefill, first pick). A second row,
  "picture read ahead", is the window's case: the picture was read when it was attached,
  while the question was typed (`read_ahead_ttft_s`); not comparable with a cold `generate`.
* plain transformers, in a subprocess of the same venv for each of fp32 and bf16: the model
  from `AutoModelForImageTextToText.from_pretrained`, the processor built as the app builds
  it (`AutoProcessor` wants torchvision, which does not import beside torch 2.13), then per
  run `processor(text=..., images=..., <the tiles the app asks for at --detail>)` and
  `model.generate(**inputs, max_new_tokens=1, do_sample=False)`; first token = the time of
  both. Both sides must show the same prompt_tokens. The best of fp32 and bf16 is the
  baseline (what a transformers user would pick).

The model is normally the real-architecture random-weight SmolVLM-256M that
`benchmarks/build_random_model.py` writes (with --image for a 640x480 photo):
    python benchmarks/build_random_model.py --out smolvlm-256m-random --image photo.png
    python benchmarks/compare_image.py --model smolvlm-256m-random --image photo.png
Add --avx2 on an AVX-512 machine to cap torch, oneDNN and fbgemm to AVX2 for both.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare_llamacpp import AVX2_ENV, OUR_PYTHON  # noqa: E402  (the same caps, the same venv)

QUESTION = "Describe this picture in detail."


def plain_worker(opts: dict[str, Any]) -> dict[str, Any]:
    """Runs inside the subprocess: plain transformers, one dtype."""
    import torch
    from PIL import Image
    from transformers import AutoModelForImageTextToText

    sys.path.insert(0, str(ROOT))
    from desktop_assistant.inference.vision_loading import load_processor
    from desktop_assistant.models.model_folder import check_model_folder

    torch.set_num_threads(opts["threads"])
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[opts["dtype"]]
    folder = check_model_folder(Path(opts["model"]))
    started = time.perf_counter()
    processor = load_processor(folder)
    model = AutoModelForImageTextToText.from_pretrained(
        folder.path, dtype=dtype, local_files_only=True
    ).eval()
    load_s = time.perf_counter() - started
    image = Image.open(opts["image"]).convert("RGB")
    messages = [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": QUESTION}]}
    ]
    text = processor.apply_chat_template(messages, add_generation_prompt=True)
    # the tiles the app asks for at this detail (one 512 tile for normal; vision_inputs.py)
    tile = processor.image_processor.max_image_size["longest_edge"]
    options: dict[str, Any] = {"do_image_splitting": False, "size": {"longest_edge": tile}}
    if opts["detail"] == "high":
        from desktop_assistant.inference.vision_inputs import image_options

        options = image_options(processor, image.size, True)
    times = []
    with torch.inference_mode():
        for _ in range(opts["runs"] + 1):  # the first is a warm-up
            begun = time.perf_counter()
            inputs = processor(text=text, images=[image], return_tensors="pt", **options)
            inputs["pixel_values"] = inputs["pixel_values"].to(dtype)
            model.generate(**inputs, max_new_tokens=1, do_sample=False)
            times.append(time.perf_counter() - begun)
    return {
        "engine": f"transformers {opts['dtype']}",
        "load_s": round(load_s, 2),
        "prompt_tokens": int(inputs["input_ids"].shape[1]),
        "ttft_s": round(statistics.median(times[1:]), 3),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }


def _run(cmd: list[str], env: dict[str, str]) -> dict[str, Any]:
    print("# " + " ".join(cmd), file=sys.stderr)
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, metavar="PATH", help="a vision model folder")
    p.add_argument("--image", type=Path, metavar="FILE", help="the picture to ask about")
    p.add_argument("--quant", default="auto,bf16", help="our precisions, comma-separated")
    p.add_argument("--detail", choices=("normal", "high"), default="normal")
    p.add_argument("--runs", type=int, default=3, metavar="N")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--avx2", action="store_true", help="cap both to AVX2")
    p.add_argument("--python", type=Path, default=OUR_PYTHON, metavar="PATH")
    p.add_argument("--json", action="store_true")
    p.add_argument("--worker", metavar="JSON", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(plain_worker(json.loads(args.worker))))
        return 0
    if args.model is None or args.image is None:
        p.error("--model and --image are required")
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(args.threads))
    if args.avx2:
        env.update(AVX2_ENV)
    rows = []
    for dtype in ("fp32", "bf16"):
        opts = {
            "model": str(args.model),
            "image": str(args.image),
            "dtype": dtype,
            "runs": args.runs,
            "threads": args.threads,
            "detail": args.detail,
        }
        rows.append(_run([str(args.python), __file__, "--worker", json.dumps(opts)], env))
    baseline = min(r["ttft_s"] for r in rows)
    for quant in [q.strip() for q in args.quant.split(",") if q.strip()]:
        cmd = [
            str(args.python), "-m", "desktop_assistant", "bench", "image",
            "--model", str(args.model), "--image", str(args.image), "--quant", quant,
            "--runs", str(args.runs), "--new-tokens", "1", "--detail", args.detail, "--json",
        ]  # fmt: skip
        ours = _run(cmd, env)
        name = f"ours {ours['precision']} (vision {ours['vision_precision']})"
        rows.append(
            {
                "engine": name,
                "load_s": ours["load_s"],
                "prompt_tokens": ours["prompt_tokens"],
                "ttft_s": ours["ttft_s"],
            }
        )
        rows.append({"engine": f"{name}, picture read ahead", "load_s": ours["load_s"],
                     "prompt_tokens": ours["prompt_tokens"],
                     "ttft_s": ours["read_ahead_ttft_s"]})  # fmt: skip
    for row in rows:
        row["x_plain_best"] = round(row["ttft_s"] / baseline, 3)
    report = {
        "isa": "avx2" if args.avx2 else "native",
        "threads": args.threads,
        "detail": args.detail,
        "rows": rows,
    }
    if args.json:
        print(json.dumps(report))
    else:
        cols = ("engine", "prompt_tokens", "ttft_s", "x_plain_best", "load_s")
        widths = [max(len(c), *(len(str(r[c])) for r in rows)) for c in cols]
        print("  ".join(c.rjust(w) for c, w in zip(cols, widths, strict=True)))
        for r in rows:
            print("  ".join(str(r[c]).rjust(w) for c, w in zip(cols, widths, strict=True)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
