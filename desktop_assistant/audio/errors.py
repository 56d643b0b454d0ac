"""The one error the audio package raises: something the user can act on."""

from __future__ import annotations

from desktop_assistant.core.errors import UserError


class AudioError(UserError):
    """No microphone, a microphone that failed, or an audio file that cannot be read."""


class AudioCancelled(AudioError):
    """The user stopped the reading of an audio file."""
