"""inference/base.py: what the three engines share."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from desktop_assistant.inference.base import (
    DEFAULT_CONTEXT,
    LocalEngine,
    context_length,
    reply_stats,
)


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (SimpleNamespace(max_position_embeddings=4096), 4096),
        (SimpleNamespace(n_positions=1024), 1024),  # GPT-2 style
        (SimpleNamespace(max_sequence_length=512), 512),
        (SimpleNamespace(max_position_embeddings=0, n_positions=None), DEFAULT_CONTEXT),
        (SimpleNamespace(), DEFAULT_CONTEXT),
    ],
)
def test_context_length_reads_the_keys_configs_use(config, expected):
    assert context_length(config) == expected


def test_reply_stats_time_the_first_token_and_the_rest():
    started = time.perf_counter() - 1.0
    stats = reply_stats(started, started + 0.25, 4, prompt_tokens=9, precision="int8")
    assert stats.ttft_s == pytest.approx(0.25)
    assert stats.total_s == pytest.approx(1.0, abs=0.05)
    assert stats.decode_tok_s == pytest.approx(3 / 0.75, rel=0.1)  # tokens after the first
    assert stats.prompt_tokens == 9 and stats.new_tokens == 4 and stats.precision == "int8"
    none = reply_stats(started, None, 0, prompt_tokens=9)  # stopped before any token
    assert none.ttft_s == pytest.approx(none.total_s) and none.decode_tok_s == 0


def test_a_local_engine_is_named_after_its_folder_and_cancels(tmp_path):
    engine = LocalEngine(tmp_path / "qwen-0.5b")
    assert engine.name == "qwen-0.5b" and not engine.is_loaded and engine.precision == ""
    engine.cancel()
    assert engine._cancel.is_set()
