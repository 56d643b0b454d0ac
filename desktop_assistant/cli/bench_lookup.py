"""`bench lookup`: decode speed with and without prompt-lookup drafts (inference/generation.py),
on a code edit (the answer repeats the prompt) and a story (it does not)."""

from __future__ import annotations

import statistics
from typing import Any

EDIT_TASK = """Rename the function `load_settings` to `read_settings` in this code and \
show the whole file:

```python
import json
from pathlib import Path


def load_settings(path: Path) -> dict:
    \"\"\"Read the settings file, or the defaults when there is none.\"\"\"
    if not path.exists():
        return {"theme": "light", "font_size": 12, "language": "en"}
    with path.open(encoding="utf-8") as f:
        data = json.load(f)
    data.setdefault("theme", "light")
    data.setdefault("font_size", 12)
    data.setdefault("language", "en")
    return data


def save_settings(path: Path, settings: dict) -> None:
    path.write_text(json.dumps(settings, indent=2), encoding="utf-8")


if __name__ == "__main__":
    print(load_settings(Path("settings.json")))
```"""
STORY_TASK = "Write a short story about a lighthouse keeper who finds a message in a bottle."


def bench_lookup(model: str, new_tokens: int, runs: int) -> dict[str, Any]:
    """Decode speed with and without prompt-lookup drafts: a code edit (the answer repeats
    the prompt) and a story (it does not), greedy and sampled (0.7), median of `runs`."""
    import torch

    from desktop_assistant.core.conversation import Message
    from desktop_assistant.inference.causal_lm import CausalLMEngine
    from desktop_assistant.inference.options import GenerationOptions

    engine = CausalLMEngine(model)
    engine.load()
    out: dict[str, Any] = {"model": engine.name, "precision": engine.precision}
    for name, prompt in (("edit", EDIT_TASK), ("story", STORY_TASK)):
        for temperature in (0.0, 0.7):
            for lookup in (False, True):
                engine.prompt_lookup = lookup
                options = GenerationOptions(max_new_tokens=new_tokens, temperature=temperature)
                speeds = []
                for run in range(runs):
                    engine.reset_cache()
                    torch.manual_seed(run)
                    reply = engine.generate([Message("user", prompt)], options, lambda t: None)
                    speeds.append(reply.stats.decode_tok_s)
                key = f"{name}_t{temperature:g}_{'lookup' if lookup else 'plain'}_tok_s"
                out[key] = round(statistics.median(speeds), 1)
    return out
