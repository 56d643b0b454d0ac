"""Token ids in, text pieces out, as a reply is generated.

Decodes a short window of recent ids each step (the approach of text-generation-inference),
so the cost per token does not grow with the reply; waits while the last bytes are an
incomplete UTF-8 character; holds back text that could be the start of a stop marker (the
"User:" of plain-transcript models) and ends the reply when a marker appears.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


class TextStream:
    def __init__(
        self, tokenizer: Any, on_text: Callable[[str], None], stop_markers: Sequence[str] = ()
    ) -> None:
        self.tokenizer = tokenizer
        self.on_text = on_text
        self.stop_markers = tuple(stop_markers)
        self.ids: list[int] = []
        self.text = ""  # emitted so far
        self.stopped_by_marker = False
        self._decoded = ""  # everything decoded so far, including held-back text
        self._prefix = 0  # window start for incremental decoding
        self._read = 0  # ids up to here are in _decoded

    def add(self, token_id: int) -> bool:
        """Take one new token; True when a stop marker ended the reply."""
        if self.stopped_by_marker:
            return True
        self.ids.append(token_id)
        decode = self.tokenizer.decode
        before = decode(self.ids[self._prefix : self._read], skip_special_tokens=True)
        after = decode(self.ids[self._prefix :], skip_special_tokens=True)
        if len(after) > len(before) and not after.endswith("\ufffd"):
            self._decoded += after[len(before) :]
            self._prefix, self._read = self._read, len(self.ids)
        self._emit(final=False)
        return self.stopped_by_marker

    def finish(self) -> None:
        """The reply has ended: emit what was held back."""
        if self._read < len(self.ids):  # a trailing partial character, shown as is
            tail = self.tokenizer.decode(self.ids[self._prefix :], skip_special_tokens=True)
            head = self.tokenizer.decode(
                self.ids[self._prefix : self._read], skip_special_tokens=True
            )
            self._decoded += tail[len(head) :]
            self._read = len(self.ids)
        self._emit(final=True)

    def _emit(self, final: bool) -> None:
        text = self._decoded
        for marker in self.stop_markers:
            at = text.find(marker)
            if at >= 0:
                text, final, self.stopped_by_marker = text[:at].rstrip(), True, True
        if not final:
            text = text[: len(text) - self._held_back(text)]
        if len(text) > len(self.text) and text.startswith(self.text):
            self.on_text(text[len(self.text) :])
            self.text = text

    def _held_back(self, text: str) -> int:
        """Length of the longest tail of `text` that starts a stop marker."""
        longest = 0
        for marker in self.stop_markers:
            for n in range(1, len(marker)):
                if n > longest and text.endswith(marker[:n]):
                    longest = n
        return longest
