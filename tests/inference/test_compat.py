"""The KV cache is handed to models by the name the installed transformers takes."""

import warnings

import pytest
import torch
from transformers import AutoModelForCausalLM, DynamicCache

from desktop_assistant.inference.compat import cache_keyword, with_cache


@pytest.mark.parametrize("model_dir", ["tiny_chat_dir", "tiny_gpt2_dir"])
def test_a_forward_with_our_cache_keyword_warns_nothing_and_fills_the_cache(model_dir, request):
    model = AutoModelForCausalLM.from_pretrained(request.getfixturevalue(model_dir))
    kv_cache = DynamicCache(config=model.config)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 5.24 warns on the old name `past_key_values`
        with torch.inference_mode():
            out = model(input_ids=torch.tensor([[1, 2, 3]]), use_cache=True, **with_cache(kv_cache))
    assert out.logits.shape[:2] == (1, 3)
    assert kv_cache.get_seq_length() == 3
    assert cache_keyword() in {"cache", "past_key_values"}
