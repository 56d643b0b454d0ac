"""Commands understood by what their words mean, not by one phrasing.

The grammar in `core.commands` knows whole sayings ("delete this chat"). People say the same
thing in many other ways ("get rid of this chat", "bin this conversation", "text size up"), so
this second stage reads an utterance as a bag of *concepts*: every word or fixed phrase maps to
a concept (DELETE, CHAT, UP, BIGGER, ...) or is glue ("the", "this", "me", "please"). A frame is
an intent with the concepts it needs and the ones it tolerates; the utterance is that intent when
exactly one frame fits, and only when every word is accounted for. One word that means nothing
to the app ("how do I copy a *file* in *Linux*") makes it dictation, which is what keeps
questions about stopping, deleting or zooming in other programs out of the commands.

Why by hand: no well-kept library parses intents offline without a trained model per app
(Rhasspy and Snips NLU train on examples and bring their own stacks); a small lexicon with
composition rules is what such parsers do underneath, and it can be read and tested. The
loaded chat model was tried first (Qwen2.5-Coder-0.5B choosing among the intents: 54% right
and most dictation taken for commands; its sentence embeddings: 82%, dictation inseparable),
and it would depend on which model the user loaded and be busy while an answer streams.

The lexicon was written from the app's vocabulary and `benchmarks/intents/sayings.json` (its
held-out half measured first: 93.9%, then tuned on); `sayings-2.json` is held out as a whole
(`desktop-assistant eval intents --sayings ... --split all`: 94.7% at first sight).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Concepts, each with its phrases (one to four words, "|" between them, matched longest first).
LEXICON_TEXT: dict[str, str] = {
    "CHAT": (
        "chat|chats|conversation|conversations|thread|threads|discussion|session|"
        "conversation's|chat's"
    ),
    "IMAGE": (
        "image|images|picture|pictures|photo|photos|photograph|photographs|screenshot|"
        "screenshots|attachment|attachments|attached image|attached images|"
        "attached picture|attached pictures|attached photo|attached photos|attached file|"
        "attached files"
    ),
    "ANSWER": (
        "answer|reply|response|what you said|what you just said|what you wrote|what you just wrote"
    ),
    # plural: every answer, as a setting ("stop speaking your answers") more than the last one
    "ANSWERS": "answers|replies|responses|all answers|all the answers|all replies",
    "MESSAGE": "message|question|prompt|text i typed|what i typed|what i wrote",
    "TEXT": "text|font|fonts|letters|writing|words|type|font size|text size|everything|screen",
    "SETTINGS": (
        "settings|setting|preferences|options|configuration|config|settings window|"
        "settings page|settings menu|options menu|preferences window|configure|customise|"
        "customize"
    ),
    "DARK": "dark|night|darker|black",
    "LIGHT": "light|day|lighter|bright|brighter|white",
    "THEME": "mode|theme|colours|colors|colour scheme|color scheme",
    "NEW": "new|fresh|blank|clean|empty|another|brand new|different",
    "OVER": "over|afresh|from scratch|from the beginning|all over again",
    "START": "start|begin|create|make|open|launch",
    "DELETE": (
        "delete|remove|erase|trash|bin|discard|wipe|destroy|get rid of|throw away|"
        "throw out|clear|drop|detach|ditch|take off|take away|lose|throw|take|scrap"
    ),
    "RENAME": "rename|retitle|relabel",
    "GO": (
        "go|switch|move|take me|bring me|jump|skip|show me|show|open|return|head|get me|"
        "navigate|take us"
    ),
    "PREV": "previous|prior|earlier|last|before|back|preceding|older",
    "NEXT": "next|following|after|forward|newer|later|on",
    "SEARCH": "search|find|look for|look through|look up|hunt for",
    "ATTACH": (
        "attach|add|upload|insert|include|pick|choose|select|browse for|load|put in|drop in"
    ),
    "PICKER": "picker|chooser|browser|dialog|file dialog",
    "COPY": (
        "copy|grab a copy of|clipboard|on the clipboard|to the clipboard|"
        "into the clipboard|put on the clipboard"
    ),
    "SCROLL": "scroll|scrolling|page",
    "UP": "up|upwards|upward|top|above|higher|back up",
    "DOWN": "down|downwards|downward|bottom|below|lower|end",
    "BIGGER": "bigger|larger|increase|enlarge|magnify|zoom in|grow|huger|raise",
    "SMALLER": "smaller|decrease|shrink|reduce|zoom out|tinier|lower|too big|too large",
    "READ": "read|speak|say|repeat|tell me",
    "AGAIN": "again|one more time|once more|once again|another time|one more go|back",
    "ALOUD": "aloud|out loud|out|loudly",
    "REGEN": (
        "regenerate|redo|rewrite|reword|generate|retry|have another go|another go|"
        "another attempt|one more attempt|take another shot|another shot|try|rephrase"
    ),
    "STOP": (
        "stop|halt|enough|quiet|silence|shut up|cut it out|hush|hold on|pause|"
        "that's enough|that will do|stop it|cease"
    ),
    "TALKING": "talking|speaking|generating|writing|reading|typing|right there|there",
    "SEND": "send|submit|post|fire off|fire it off|send off|send it off|send that off|enter",
    "VOICE": (
        "voice|voice replies|voice reply|voice answers|spoken answers|spoken replies|"
        "auto read|automatic reading|reading aloud|read aloud|reading out loud|speech|"
        "read out|reading|speaking|text to speech|the voice"
    ),
    "ON": ("on|enable|activate|always|from now on|switch on|turn on|unmute|keep reading|start"),
    "OFF": (
        "off|disable|deactivate|mute|no more|any more|anymore|don't|do not|never|stop|"
        "switch off|turn off|no longer"
    ),
    "TOGGLE": "turn|switch|set|put|change|make|use|go|keep|place",
    "YES": (
        "yes|yeah|yep|yup|sure|confirm|confirmed|correct|affirmative|absolutely|"
        "definitely|ok|okay|do it|go ahead|all right|that's right|alright|please do|"
        "of course|certainly|i'm sure|i am sure|proceed"
    ),
    "NO": (
        "no|nope|nah|cancel|never mind|forget it|forget that|abort|don't|do not|leave it|"
        "keep it|don't do that|do not do that|don't do it|no way|not now|negative"
    ),
    "NAME": "name|title|label|call",
    "SIZE": "size|zoom",
    "MORE": "more|keep|continue|further|a bit more",
}
LEXICON: dict[str, tuple[str, ...]] = {
    concept: tuple(text.split("|")) for concept, text in LEXICON_TEXT.items()
}

# Words that carry no meaning of their own here. Question words, "is", "how", "what" and the
# like are deliberately not glue: they make an utterance a question for the assistant.
GLUE_WORDS = (
    "the a an this that these those it its my your our me us you i to of for in into at with "
    "all one bit little little bit some just please now right now then again thanks thank "
    "be is current whole entire full can could would will want like i'd i'll let let's "
    "kindly app application away"
)
GLUE = frozenset(GLUE_WORDS.split())

# Concepts that mean different things in different frames share words ("open", "go", "on",
# "stop", "back"...). Each frame takes the meaning of each phrase it can use (`_fit`).


@dataclass(frozen=True)
class Frame:
    intent: str
    needs: tuple[frozenset[str], ...]  # one of these concept sets must all be present
    allows: frozenset[str] = frozenset()  # other concepts that may be present too


def _f(intent: str, needs: list[str], allows: str = "") -> Frame:
    return Frame(
        intent,
        tuple(frozenset(n.split()) for n in needs),
        frozenset(allows.split()),
    )


FRAMES: tuple[Frame, ...] = (
    _f("new_chat", ["NEW CHAT", "START CHAT", "START OVER", "START NEW"], "START GO NEW OVER"),
    _f("delete_conversation", ["DELETE CHAT"], "PREV OFF"),
    _f("clear_images", ["DELETE IMAGE"], "OFF"),
    _f("previous_conversation", ["PREV CHAT"], "GO AGAIN"),
    _f("next_conversation", ["NEXT CHAT"], "GO"),
    _f("attach_image", ["ATTACH IMAGE", "SEND IMAGE", "IMAGE PICKER", "START IMAGE"], "GO START"),
    _f("copy_last_answer", ["COPY"], "ANSWER PREV TOGGLE"),
    _f(
        "read_aloud",
        ["READ ANSWER", "READ AGAIN", "READ ALOUD", "READ", "ANSWER ALOUD"],
        "ANSWER AGAIN ALOUD PREV",
    ),
    _f(
        "regenerate",
        ["REGEN", "ANSWER AGAIN", "NEW ANSWER", "REGEN AGAIN"],
        "ANSWER AGAIN NEW PREV",
    ),
    _f("stop", ["STOP"], "TALKING ANSWER"),
    _f("send", ["SEND"], "MESSAGE"),
    _f("scroll_up", ["UP"], "SCROLL GO PREV"),
    _f("scroll_down", ["DOWN", "SCROLL MORE"], "SCROLL GO MORE"),
    _f("zoom_in", ["BIGGER", "TEXT UP", "SIZE BIGGER"], "TEXT SIZE START TOGGLE"),
    _f("zoom_out", ["SMALLER", "TEXT DOWN", "SIZE SMALLER"], "TEXT SIZE START TOGGLE"),
    _f("open_settings", ["SETTINGS"], "GO START TOGGLE"),
    _f("set_theme", ["DARK", "LIGHT"], "THEME TOGGLE GO START ON AGAIN PREV"),
    _f(
        "set_auto_read",
        [
            "VOICE ON",
            "VOICE OFF",
            "READ ANSWER ON",
            "READ ANSWER OFF",
            "READ ALOUD ON",
            "READ ALOUD OFF",
            "READ ANSWERS ON",
            "READ ANSWERS OFF",
            "VOICE ANSWERS OFF",
            "VOICE ANSWERS ON",
        ],
        "TOGGLE ANSWER ANSWERS ALOUD READ",
    ),
    _f("confirm", ["YES"], "DELETE"),
    _f("cancel", ["NO"], ""),
)

# A frame needs two meaningful phrases ("dark" alone is dictation, "dark mode" a command),
# except a yes or no, which the window only takes as a command when it asked a question.
YES_NO = frozenset({"YES", "NO"})
# ... and except phrases that are commands on their own.
STRONG = frozenset(
    {
        "stop",
        "halt",
        "hush",
        "shut up",
        "cut it out",
        "that's enough",
        "that will do",
        "regenerate",
        "redo",
        "retry",
        "one more attempt",
        "another attempt",
        "have another go",
        "submit",
        "fire off",
        "fire it off",
        "send off",
        "send it off",
        "send that off",
        "post it",
        "zoom in",
        "zoom out",
        "magnify",
        "settings",
        "preferences",
        "configure",
        "options menu",
        "settings window",
        "settings menu",
    }
)


# ... and except a direction or size with a degree ("down a little", "bigger please" is not).
MEASURED = frozenset({"UP", "DOWN", "BIGGER", "SMALLER"})
_DEGREE = re.compile(r"\b(?:a bit|a little|a little bit|a tad|slightly)\b")


def _enough_alone(meanings: frozenset[str], cleaned: str) -> bool:
    """Whether an utterance with one meaningful phrase is a command (see above)."""
    return bool(
        meanings & YES_NO
        or _single(cleaned) in STRONG
        or (meanings & MEASURED and _DEGREE.search(cleaned))
    )


def _single(cleaned: str) -> str:
    """The one meaningful phrase of an utterance that has one (glue dropped at its ends)."""
    words = cleaned.split()
    while words and words[0] in GLUE and " ".join(words) not in STRONG:
        words = words[1:]
    while words and words[-1] in GLUE and " ".join(words) not in STRONG:
        words = words[:-1]
    return " ".join(words)


_PHRASE_INDEX: dict[tuple[str, ...], frozenset[str]] = {}
for _concept, _phrases in LEXICON.items():
    for _phrase in _phrases:
        key = tuple(_phrase.split())
        _PHRASE_INDEX[key] = _PHRASE_INDEX.get(key, frozenset()) | {_concept}
_LONGEST = max(len(k) for k in _PHRASE_INDEX)


def concepts(cleaned: str) -> list[frozenset[str]] | None:
    """The concepts of each meaningful phrase of `cleaned` (longest phrases first), or None
    when a word means nothing to the app."""
    words = cleaned.split()
    found: list[frozenset[str]] = []
    i = 0
    while i < len(words):
        for n in range(min(_LONGEST, len(words) - i), 0, -1):
            meaning = _PHRASE_INDEX.get(tuple(words[i : i + n]))
            if meaning is not None:
                found.append(meaning)
                i += n
                break
        else:
            if words[i] not in GLUE:
                return None
            i += 1
    return found


def match_frame(cleaned: str) -> tuple[str, frozenset[str]] | None:
    """The one intent whose frame fits every phrase of `cleaned`, with the concepts read;
    None when no frame fits or when more than one does (ambiguous is dictation)."""
    found = concepts(cleaned)
    if not found or (len(found) == 1 and not _enough_alone(found[0], cleaned)):
        return None  # one word ("dark", "higher", "say") is too little to act on
    fits: dict[str, frozenset[str]] = {}
    for frame in FRAMES:
        reading = _fit(frame, found)
        if reading is not None:
            fits[frame.intent] = reading
    if len(fits) != 1:
        return None
    return next(iter(fits.items()))


def _fit(frame: Frame, found: list[frozenset[str]]) -> frozenset[str] | None:
    """The concepts `frame` reads in `found` (each phrase taking one of its meanings the
    frame can use), or None. A phrase may repeat a concept another phrase already gave
    (e.g. a second "chat")."""
    for need in frame.needs:
        usable = need | frame.allows
        chosen: set[str] = set()
        ok = True
        for meanings in found:
            options = meanings & usable
            if not options:
                ok = False
                break
            # prefer a needed concept not yet covered, then any needed one, then any allowed
            pick = sorted(options & (need - chosen)) or sorted(options & need) or sorted(options)
            chosen.add(pick[0])
        if ok and need <= chosen:
            return frozenset(chosen)
    return None


def frame_slots(intent: str, reading: frozenset[str]) -> dict[str, str | bool]:
    """Slots of a frame-recognised intent from the concepts it was read with: a theme's frame
    reads DARK or LIGHT, the read-aloud setting's ON or OFF (never both: neither is allowed
    beside the other)."""
    if intent == "set_theme":
        return {"theme": "dark" if "DARK" in reading else "light"}
    if intent == "set_auto_read":
        return {"enabled": "ON" in reading}
    return {}
