"""What a conversation is made of, independent of any model or widget."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class Message:
    role: Role
    content: str

    def as_dict(self) -> dict[str, str]:
        """The shape chat templates expect."""
        return {"role": self.role, "content": self.content}
