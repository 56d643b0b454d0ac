"""docs/user-guide.md stays true: every spoken example in its table is the command it names."""

from __future__ import annotations

from pathlib import Path

from desktop_assistant.core.commands import INTENTS, understand

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "user-guide.md"
MEANS = {  # what the table says happens -> the intent that does it
    "starts a new conversation": "new_chat",
    "stops the answer and reading aloud": "stop",
    "sends what is in the prompt box": "send",
    "reads the last answer aloud": "read_aloud",
    "regenerates the last answer": "regenerate",
    'deletes it, after you say "yes"': "delete_conversation",
    "renames the conversation": "rename_conversation",
    "opens the older conversation": "previous_conversation",
    "opens the newer conversation": "next_conversation",
    "searches your conversations": "search_chats",
    "opens the picture picker": "attach_image",
    "removes the attached pictures": "clear_images",
    "copies it to the clipboard": "copy_last_answer",
    "scrolls the conversation up": "scroll_up",
    "scrolls the conversation down": "scroll_down",
    "changes the theme": "set_theme",
    "makes the text bigger": "zoom_in",
    "makes the text smaller": "zoom_out",
    "opens Settings": "open_settings",
    "reads every answer as it arrives": "set_auto_read",
    "confirms what the app asked": "confirm",
    "cancels what the app asked": "cancel",
}


def test_every_voice_command_is_in_the_guide_and_is_understood():
    rows = [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in GUIDE.read_text(encoding="utf-8").splitlines()
        if line.startswith("| ") and not line.startswith("| Say")
    ]
    seen = set()
    for saying, effect in rows:
        intent = MEANS[effect]
        heard = understand(saying)
        assert heard.command is not None and heard.command.intent == intent, saying
        assert not heard.ask, saying
        seen.add(intent)
    assert seen == set(INTENTS)
