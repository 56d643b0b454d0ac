"""What a conversation is made of, independent of any model or widget."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Role = Literal["system", "user", "assistant"]


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
