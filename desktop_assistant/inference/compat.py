"""Differences between the transformers releases we accept (pyproject: >=5.21,<6).

5.24 renamed a model's `past_key_values` argument to `cache` (the output field too; we never
read it, we keep our own cache object). The old name still works there, but warns on stderr
("FutureWarning: `past_key_values` is deprecated") and goes away in 5.40, so we pass
whichever name the installed release takes.
"""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def cache_keyword() -> str:
    """The keyword a model's forward takes its KV cache by."""
    import transformers
    from packaging.version import Version

    return "cache" if Version(transformers.__version__).release >= (5, 24) else "past_key_values"


def with_cache(kv_cache: Any) -> dict[str, Any]:
    """Keyword arguments that hand `kv_cache` to a model's forward."""
    return {cache_keyword(): kv_cache}
