"""MessageState (core/conversation.py): one set of message states for storage and the window."""

from __future__ import annotations

import json

from desktop_assistant.core.conversation import MessageState
from desktop_assistant.storage.history import STATES
from desktop_assistant.ui.message_list import STORED_STATE_TEXT, UNFINISHED


def test_states_are_stored_as_their_plain_values():
    assert [str(s) for s in MessageState] == [
        "complete", "streaming", "stopped", "failed", "interrupted"
    ]  # fmt: skip
    assert MessageState.STOPPED == "stopped" and json.dumps(MessageState.FAILED) == '"failed"'
    assert MessageState("interrupted") is MessageState.INTERRUPTED


def test_storage_and_the_window_use_the_same_states():
    assert set(STATES) == set(MessageState)
    assert set(UNFINISHED) == set(STORED_STATE_TEXT) == set(MessageState) - {MessageState.COMPLETE}
    assert not MessageState.COMPLETE.unfinished and MessageState.STREAMING.unfinished
