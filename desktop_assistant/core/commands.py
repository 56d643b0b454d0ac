"""The voice-command grammar: a whole utterance becomes an intent, or it is dictation.

An utterance is cleaned (case, punctuation, Whisper's spelling variants), polite and filler
words at its ends are dropped ("uh, can you scroll down please"), and what is left must match
one of an intent's patterns *as a whole*: "I think the stop sign was red" is dictation, not
`stop`. Patterns are plain regular expressions over the cleaned text, one table per intent,
with named groups for slots. `PHRASES` lists a few canonical sayings per intent: the tests
check each one, and the speech engine uses them to snap a near-miss transcription ("new cat")
onto a command when the audio supports it (see inference/whisper_decode.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

SlotValue = str | bool


@dataclass(frozen=True)
class Command:
    intent: str  # one of INTENTS
    slots: dict[str, SlotValue] = field(default_factory=dict)  # e.g. {"theme": "dark"}


INTENTS = (
    "new_chat",
    "stop",
    "send",
    "read_aloud",
    "regenerate",
    "delete_conversation",
    "rename_conversation",
    "previous_conversation",
    "next_conversation",
    "search_chats",
    "attach_image",
    "clear_images",
    "copy_last_answer",
    "scroll_up",
    "scroll_down",
    "set_theme",
    "zoom_in",
    "zoom_out",
    "open_settings",
    "set_auto_read",
    "confirm",
    "cancel",
)
DESTRUCTIVE = frozenset({"delete_conversation"})
ANSWERS = frozenset({"confirm", "cancel"})  # commands only when the app asked something

# Building blocks shared by several patterns.
CHAT = r"(?:chat|chats|conversation|conversations|thread|discussion)"
THIS = r"(?:(?:this|the|that|my|current|this current|the current) )?"
ANSWER = r"(?:answer|reply|response|message)"
LAST = r"(?:(?:the|your|that|my) )?(?:(?:last|latest|previous|most recent) )?"
IMAGE = r"(?:image|images|picture|pictures|photo|photos|photograph|screenshot)"
SPEECH = (
    r"(?:voice replies|voice reply|voice answers|spoken answers|spoken replies|auto read|"
    r"automatic reading|reading aloud|read aloud|reading answers aloud|reading out loud|speech)"
)

# intent -> patterns; a pattern must match the whole cleaned utterance.
PATTERNS: dict[str, tuple[str, ...]] = {
    "new_chat": (
        rf"(?:a |another )?(?:new|fresh|blank|clean|empty) {CHAT}",
        rf"(?:start|begin|open|create|make)(?: me)?(?: a| an| another)?"
        rf"(?: new| fresh| blank| clean| empty| another)? {CHAT}",
        r"(?:start|begin) (?:over|again|afresh|from scratch)",
    ),
    "stop": (
        r"stop(?: it| that| this| now| there| talking| speaking| generating| reading| writing)?",
        rf"stop (?:the )?(?:{ANSWER}|generation|speech|voice)",
        r"(?:stop )?(?:stop|halt|enough|quiet|silence|shut up|be quiet|hush)",
    ),
    "send": (
        r"send(?: it| that| this| now)?",
        r"send (?:the |my |this )?(?:message|question|prompt|text)",
        r"submit(?: it| that| this)?",
    ),
    "read_aloud": (
        r"read (?:that|it|this)(?: again| out| aloud| out loud| to me)?(?: again)?",
        rf"read {LAST}{ANSWER}(?: again| aloud| out loud| to me| out)?",
        r"read (?:it )?(?:aloud|out loud)",
        r"(?:say|repeat) (?:that|it)(?: again)?",
    ),
    "regenerate": (
        rf"re ?generate(?: {LAST}{ANSWER}| that| it)?",
        r"(?:try|answer|do) (?:that |it )?again",
        rf"(?:give me |write )?(?:a |another )?(?:different|new|better|another) {ANSWER}",
        rf"redo(?: that| it| {LAST}{ANSWER})?",
    ),
    "delete_conversation": (rf"(?:delete|remove|erase|trash|discard) {THIS}{CHAT}",),
    "rename_conversation": (
        rf"(?:rename|retitle|name|call|title|label) {THIS}{CHAT}(?: to| as)? (?P<name>.+)",
        rf"give {THIS}{CHAT} (?:the |a )?(?:name|title) (?P<name>.+)",
        r"(?:rename|retitle) (?:it|this|that) (?:to|as) (?P<name>.+)",
        rf"(?:change|set|update|make) {THIS}(?:{CHAT}(?:'s)? )?(?:name|title) (?:to |as )?"
        r"(?P<name>.+)",
    ),
    "previous_conversation": (
        rf"(?:go )?(?:back )?(?:to )?(?:the )?(?:previous|prior|last|earlier) {CHAT}",
        rf"(?:go )?back (?:a |one )?{CHAT}",
    ),
    "next_conversation": (rf"(?:go )?(?:on )?(?:to )?(?:the )?(?:next|following) {CHAT}",),
    "search_chats": (
        rf"(?:search|find|look)(?: through| in| for)? (?:my |the |all |all my )?"
        rf"(?:{CHAT}|history|chat history)"
        r"(?: for| about| on| with| mentioning| that mention| containing| that contain)?"
        r" (?P<query>.+)",
        rf"(?:search|look) for (?P<query>.+) in (?:my |the )?(?:{CHAT}|history|chat history)",
        rf"find (?:the |a |my )?{CHAT} (?:about|on|with) (?P<query>.+)",
    ),
    "attach_image": (
        rf"(?:attach|add|insert|upload|pick|choose|select|include)"
        rf"(?: a| an| on| one| the| some| my)? {IMAGE}",
        r"open (?:the )?(?:image|picture|photo) (?:picker|chooser)",
    ),
    "clear_images": (
        rf"(?:clear|remove|delete|drop|discard|detach|get rid of)(?: all)?"
        rf"(?: of)?(?: the| my| these| those| this| that| attached)? {IMAGE}",
        r"(?:clear|remove|delete|drop) (?:the |all )?attachments?",
    ),
    "copy_last_answer": (
        rf"copy {LAST}{ANSWER}(?: to the clipboard)?",
        r"copy (?:that|it)(?: to the clipboard)?",
    ),
    "scroll_up": (r"scroll (?:up|back up)(?: a bit| a little| more)?", r"scroll to the top"),
    "scroll_down": (r"scroll down(?: a bit| a little| more)?", r"scroll to the bottom"),
    "set_theme": (
        r"(?:switch|change|go|turn|set|put)(?: it| the theme| the app)?(?: to| on| into)?"
        r"(?: the)? (?P<theme>dark|light|night|day)(?: mode| theme)?",
        r"(?:use|enable|turn on|activate)(?: the)? (?P<theme>dark|light|night|day) (?:mode|theme)",
        r"(?P<theme>dark|light|night|day) (?:mode|theme)(?: on)?",
    ),
    "zoom_in": (
        r"zoom in",
        r"make (?:the )?(?:text|font|letters|writing|everything|it) (?:bigger|larger)",
        r"(?:bigger|larger) (?:text|font)",
        r"increase (?:the )?(?:text|font|zoom)(?: size)?",
    ),
    "zoom_out": (
        r"zoom out",
        r"make (?:the )?(?:text|font|letters|writing|everything|it) smaller",
        r"smaller (?:text|font)",
        r"decrease (?:the )?(?:text|font|zoom)(?: size)?",
    ),
    "open_settings": (
        r"(?:open|show|show me|go to|display)(?: the| my)? (?:settings|preferences|options)",
        r"settings",
    ),
    "set_auto_read": (
        rf"(?:turn|switch|set) (?P<state>on|off)(?: the)? {SPEECH}",
        rf"(?:turn|switch|set)(?: the)? {SPEECH} (?P<state>on|off)",
        rf"(?P<state>enable|disable|start|stop|activate|deactivate)(?: the)? {SPEECH}",
        r"(?P<state>stop|don't|do not) read(?:ing)? (?:the |my |your )?answers"
        r"(?: aloud| out loud)?",
        r"(?P<state>always) read (?:the |my |your )?answers(?: aloud| out loud)?",
    ),
    "confirm": (
        r"(?:yes|yeah|yep|yup|sure|confirm|confirmed|correct|affirmative)"
        r"(?: please| do it| delete it| go ahead| i'm sure| i am sure| confirm)?",
        r"(?:do it|go ahead|ok|okay)",
    ),
    "cancel": (
        r"cancel(?: that| it| this)?",
        r"never ?mind",
        r"(?:no|nope|nah)(?: thanks| thank you| don't| do not| cancel| never ?mind)?",
        r"(?:forget it|forget that|abort|don't|do not|don't do it|do not do it)",
    ),
}

# A few canonical sayings per intent (slot-free or with fixed slot values).
PHRASES: dict[str, tuple[str, ...]] = {
    "new_chat": ("new chat", "start a new conversation"),
    "stop": ("stop",),
    "send": ("send", "send it"),
    "read_aloud": ("read that again", "read the last answer"),
    "regenerate": ("regenerate the answer", "try again"),
    "delete_conversation": ("delete this conversation", "delete this chat"),
    "previous_conversation": ("go to the previous chat", "previous conversation"),
    "next_conversation": ("go to the next chat", "next conversation"),
    "attach_image": ("attach an image",),
    "clear_images": ("clear the image", "remove the images"),
    "copy_last_answer": ("copy the last answer",),
    "scroll_up": ("scroll up",),
    "scroll_down": ("scroll down",),
    "set_theme": ("switch to dark mode", "switch to light mode"),
    "zoom_in": ("zoom in", "make the text bigger"),
    "zoom_out": ("zoom out", "make the text smaller"),
    "open_settings": ("open settings",),
    "set_auto_read": ("turn off voice replies", "turn on voice replies"),
    "confirm": ("yes",),
    "cancel": ("cancel", "never mind"),
}

# How the commands with a free slot begin ("…" stands for the slot): with PHRASES, the speech
# model's "previous text" for short utterances (inference/speech.py command_context).
SLOT_PHRASES: dict[str, str] = {
    "search_chats": "search my chats for …",
    "rename_conversation": "rename this chat to …",
}

# Whisper's spellings and near-synonyms, rewritten before matching (whole words).
VARIANTS: tuple[tuple[str, str], ...] = (
    (r"\bo\.?k\.?\b", "ok"),
    (r"\bnevermind\b", "never mind"),
    (r"\bre-?generate\b", "regenerate"),
    (r"\bauto-?read(?:ing)?\b", "auto read"),
    (r"\b(?:dark|light)(?=mode\b)", r"\g<0> "),
    (r"\bsettings? (?:page|menu|window|dialog)\b", "settings"),
    (r"\bconvo\b", "conversation"),
    (r"\bpic\b", "picture"),
    (r"\bthe the\b", "the"),
)
LEADING_FILLERS = (
    r"uh+|um+|uhm|er+|erm|hmm+|ah+|oh|so|well|hey|hi|okay|ok|alright|all right|and|now|then|"
    r"please|just|assistant|computer|can you|could you|would you|will you|can i|could i|"
    r"i want you to|i'd like you to|i would like you to|i want to|i'd like to|i would like to|"
    r"i need to|i need you to|let's|let us|go ahead and|kindly|quickly|can we|could we|"
    r"shall we|that's it|that is it"
)
TRAILING_FILLERS = r"please|now|thanks|thank you|for me|right now|for me please|ok|okay"

_COMPILED = {
    intent: tuple(re.compile(p) for p in patterns) for intent, patterns in PATTERNS.items()
}
_LEADING = re.compile(rf"^(?:{LEADING_FILLERS})\b ?")
_TRAILING = re.compile(rf" ?\b(?:{TRAILING_FILLERS})$")
MAX_WORDS = 12  # longer utterances are dictation, whatever they contain


def clean(text: str) -> str:
    """Lower case, Whisper's variants rewritten, punctuation dropped, spaces single."""
    text = text.lower().replace("\u2019", "'").replace("\u2018", "'")
    for pattern, replacement in VARIANTS:
        text = re.sub(pattern, replacement, text)
    text = re.sub(r"[^\w\s']", " ", text)  # hyphens and dots become word breaks
    text = re.sub(r"(?<!\w)'|'(?!\w)", " ", text)  # quotes, not apostrophes inside words
    return " ".join(text.split())


def strip_fillers(text: str) -> str:
    """Drop filler and politeness words at both ends; never down to nothing."""
    while True:
        shorter = _TRAILING.sub("", _LEADING.sub("", text)).strip()
        if shorter == text or not shorter:
            return text
        text = shorter


def parse_command(text: str) -> Command | None:
    """The command `text` says as a whole, or None when it is dictation."""
    cleaned = clean(text)
    if not cleaned or len(cleaned.split()) > MAX_WORDS:
        return None
    candidates = [cleaned]
    core = strip_fillers(cleaned)
    if core != cleaned:
        candidates.append(core)
    for candidate in candidates:
        for intent, patterns in _COMPILED.items():
            for pattern in patterns:
                match = pattern.fullmatch(candidate)
                if match:
                    return Command(intent, _slots(intent, match))
    from desktop_assistant.core.frames import frame_slots, match_frame

    for candidate in candidates:
        fit = match_frame(candidate)
        if fit is not None:
            intent, reading = fit
            return Command(intent, frame_slots(intent, reading))
    return None


@dataclass(frozen=True)
class Heard:
    """What a transcript means to the app: a command (or None: dictation), and whether to
    ask "Did you mean …?" before carrying it out."""

    command: Command | None
    ask: bool = False


def understand(text: str, snapped: bool = False) -> Heard:
    """`text` as the window takes it. `snapped`: the speech engine replaced the words it heard
    with the command they nearly were ("new cat" -> "new chat"); that is a guess, and a wrong
    command is worse than none, so it is asked about. Measured on the tuning half of the
    paraphrase audio: 4 of the 5 wrong commands were snapped ones."""
    command = parse_command(text)
    return Heard(command, ask=command is not None and snapped)


def _slots(intent: str, match: re.Match[str]) -> dict[str, SlotValue]:
    groups = {k: v for k, v in match.groupdict().items() if v is not None}
    if intent == "set_theme":
        return {"theme": "dark" if groups["theme"] in ("dark", "night") else "light"}
    if intent == "set_auto_read":
        return {"enabled": groups["state"] in ("on", "enable", "start", "activate", "always")}
    return {name: _TRAILING.sub("", value).strip() for name, value in groups.items()}


def is_destructive(intent: str) -> bool:
    """Whether the intent needs a spoken or clicked confirmation first."""
    return intent in DESTRUCTIVE
