"""What a conversation is made of, independent of any model or widget."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Literal

Role = Literal["system", "user", "assistant"]


class MessageState(StrEnum):
    """Where a message is in its life; stored as its value (the history, exports)."""

    COMPLETE = "complete"
    STREAMING = "streaming"  # being written; found so at start: the app was killed mid-answer
    STOPPED = "stopped"  # the user stopped the answer
    FAILED = "failed"  # the model failed while answering
    INTERRUPTED = "interrupted"  # the app closed while it streamed

    @property
    def unfinished(self) -> bool:
        return self is not MessageState.COMPLETE


@dataclass(frozen=True)
class Conversation:
    """A saved conversation's own fields; its messages are read on their own."""

    id: int
    title: str
    system_prompt: str = ""
    created_at: float = 0.0
    updated_at: float = 0.0


@dataclass(frozen=True)
class Message:
    role: Role
    content: str
    # Pictures attached to this message, as files already checked by `core.images`
    # (in the attachment store once the message is saved). Text-only engines refuse them.
    images: tuple[Path, ...] = ()

    def as_dict(self) -> dict[str, str]:
        """The shape text-only chat templates expect."""
        return {"role": self.role, "content": self.content}
