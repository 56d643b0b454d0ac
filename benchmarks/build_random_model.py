#!/usr/bin/env python3
"""Build a real-architecture vision-language model with random weights, for benchmarks.

The Hugging Face hub is out of reach on the build machines, but the real configuration,
tokenizer and processor files are in ../shared/model-configs. This builds the model from
config.json with random weights and writes a folder shaped exactly like the real download
(bf16 safetensors, the original config and processor files copied byte for byte), so
`desktop-assistant bench image` exercises the real processor, shapes and compute cost.

The output rows of the special tokens are zeroed so greedy decoding of random weights never
ends early (a benchmark asks for a fixed number of new tokens).

Usage:
    python benchmarks/build_random_model.py                       # SmolVLM-256M-Instruct
    python benchmarks/build_random_model.py --config ../shared/model-configs/SmolVLM-256M-Instruct \
        --out smolvlm-256m-random
    python benchmarks/build_random_model.py --image photo-640x480.png   # a test photo too

By default the model goes to the app's cache folder (bench-models/smolvlm-256m-random).
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from desktop_assistant.core import paths

HERE = Path(__file__).resolve().parent
DEFAULT_CONFIG = HERE.parent.parent / "shared" / "model-configs" / "SmolVLM-256M-Instruct"
DEFAULT_OUT = paths.cache_dir() / "bench-models" / "smolvlm-256m-random"
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf", ".onnx")


def build(config_dir: Path, out: Path, tokenizer_dir: Path | None = None, seed: int = 0) -> Path:
    """Random weights from `config_dir`/config.json; every other file copied as it is.

    `tokenizer_dir` supplies the tokenizer and processor files a config folder lacks (the
    SmolVLM2 configs have none; SmolVLM-256M's share its vocabulary and image token ids).
    """
    import torch
    from transformers import AutoConfig, AutoModelForImageTextToText, GenerationConfig

    config = AutoConfig.from_pretrained(config_dir, local_files_only=True)
    torch.manual_seed(seed)
    model = AutoModelForImageTextToText.from_config(config, dtype=torch.bfloat16)
    if (config_dir / "generation_config.json").is_file():
        model.generation_config = GenerationConfig.from_pretrained(config_dir)
    vocab = model.get_output_embeddings().weight.shape[0]
    special = [config.image_token_id, *range(0, 17)]  # <image>, <|endoftext|>, <|im_start|>...
    special += list(range(49152, vocab))  # the added tokens (<end_of_utterance>, <row_..>, ...)
    with torch.no_grad():
        model.get_output_embeddings().weight[special] = 0.0
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    for source in [tokenizer_dir, config_dir]:  # the config folder's own files win
        if source is None:
            continue
        for path in source.iterdir():
            if path.is_file() and not path.name.endswith(WEIGHT_SUFFIXES):
                shutil.copyfile(path, out / path.name)
    return out


def make_photo(path: Path, width: int = 640, height: int = 480, seed: int = 0) -> Path:
    """A photo-like test image: smooth gradients, a few shapes and sensor-like noise."""
    import numpy as np
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    sky = np.stack([80 + 100 * y / height, 140 + 60 * x / width, 230 - 80 * y / height], axis=-1)
    pixels = sky + rng.normal(0, 8, size=sky.shape)
    image = Image.fromarray(pixels.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    draw.ellipse((width * 0.6, height * 0.1, width * 0.8, height * 0.35), fill=(250, 220, 90))
    draw.rectangle((0, height * 0.7, width, height), fill=(60, 120, 50))
    draw.polygon(
        [(width * 0.1, height * 0.7), (width * 0.3, height * 0.3), (width * 0.5, height * 0.7)],
        fill=(110, 100, 95),
    )
    image.save(path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="real config folder")
    parser.add_argument("--tokenizer-from", type=Path, help="folder with tokenizer files")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--image", type=Path, help="also write a 640x480 photo-like PNG here")
    args = parser.parse_args()
    started = time.perf_counter()
    build(args.config, args.out, args.tokenizer_from)
    print(f"wrote {args.out} in {time.perf_counter() - started:.1f} s")
    if args.image:
        print(f"wrote {make_photo(args.image)}")


if __name__ == "__main__":
    main()
