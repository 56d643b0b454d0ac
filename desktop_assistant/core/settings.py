"""Every setting declared once: name, type, default, description; persisted as JSON.

`Settings` is Qt-free; listeners subscribe with `on_change(callback)` and the UI adapts that
to a Qt signal. Unknown keys in the file are kept (a newer version may have written them);
values of the wrong type fall back to the default instead of breaking start-up.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop_assistant.core import paths

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Setting:
    name: str
    type: type
    default: Any
    description: str
    choices: tuple[str, ...] = ()  # for text settings with a fixed set of values
    minimum: float = 0  # for numbers
    maximum: float = 1_000_000
    shown: bool = True  # False: kept by the app itself, not offered in the Settings dialog
    label: str = ""  # what the Settings dialog calls it
    special: str = ""  # for numbers: what the minimum means ("Automatic" for 0 threads)
    applies: str = ""  # when a change takes effect, said in the dialog (see below)

    @property
    def title(self) -> str:
        return self.label or self.name.replace("_", " ").capitalize()


# When a change takes effect. Nothing waits for a restart: the window reloads what it must.
NEXT_ANSWER = "from the next answer"
RELOADS_CHAT = "reloads the chat model at once"
RELOADS_SPEECH = "reloads the speech model at once"
RELOADS_BOTH = "reloads the models at once"
NEXT_RECORDING = "from the next recording"
AT_ONCE = "at once"


SCHEMA: tuple[Setting, ...] = (
    Setting(
        "model_path",
        str,
        "",
        "Folder of the chat model (a local Hugging Face model folder).",
        label="Chat model folder",
        applies=RELOADS_CHAT,
    ),
    Setting(
        "precision",
        str,
        "auto",
        "Weights precision: auto (int8, or int4 when RAM is short), int4, int8, bf16 or fp32.",
        choices=("auto", "int4", "int8", "bf16", "fp32"),
        label="Weights precision",
        applies=RELOADS_CHAT,
    ),
    Setting(
        "threads",
        int,
        0,
        "Threads for the models; 0: one per physical core.",
        maximum=256,
        label="CPU threads",
        applies=RELOADS_BOTH,
        special="Automatic",
    ),
    Setting(
        "max_new_tokens",
        int,
        512,
        "Longest answer, in tokens.",
        minimum=1,
        maximum=32768,
        label="Longest answer (tokens)",
        applies=NEXT_ANSWER,
    ),
    Setting(
        "temperature",
        float,
        0.7,
        "Randomness of answers; 0 always picks the likeliest token.",
        maximum=2,
        label="Temperature",
        applies=NEXT_ANSWER,
    ),
    Setting(
        "top_p",
        float,
        0.9,
        "Nucleus sampling: keep the smallest set of tokens with this mass.",
        minimum=0.01,
        maximum=1,
        label="Top-p",
        applies=NEXT_ANSWER,
    ),
    Setting(
        "top_k",
        int,
        40,
        "Sample among this many likeliest tokens (0: no limit).",
        label="Top-k",
        applies=NEXT_ANSWER,
        special="No limit",
    ),
    Setting(
        "repetition_penalty",
        float,
        1.05,
        "Above 1 discourages repeating earlier tokens.",
        minimum=0.5,
        maximum=2,
        label="Repetition penalty",
        applies=NEXT_ANSWER,
    ),
    Setting(
        "seed",
        int,
        -1,
        "Random seed for sampling; -1 picks a new one each time.",
        minimum=-1,
        label="Random seed",
        applies=NEXT_ANSWER,
        special="New each time",
    ),
    Setting(
        "system_prompts",
        dict,
        {
            "None": "",
            "Concise": "You are a helpful assistant. Answer briefly and plainly.",
            "Teacher": "You are a patient teacher. Explain step by step, with a small example.",
            "Programmer": "You are an expert programmer. Answer with working code and explain "
            "only what is not obvious.",
        },
        "Named system prompts; each conversation can use one.",
        label="System prompts",
        applies=AT_ONCE,
    ),
    Setting(
        "system_prompt",
        str,
        "None",
        "The named system prompt new conversations start with.",
        label="System prompt of new chats",
        applies=AT_ONCE,
    ),
    Setting(
        "theme",
        str,
        "system",
        "Light or dark colours, or follow the system.",
        choices=("system", "light", "dark"),
        label="Theme",
        applies=AT_ONCE,
    ),
    Setting(
        "stt_model_path",
        str,
        "",
        "Folder of the Whisper speech-to-text model.",
        label="Speech model folder",
        applies=RELOADS_SPEECH,
    ),
    Setting(
        "stt_language",
        str,
        "auto",
        "Language you speak: auto, or a code such as en or fr.",
        label="Spoken language",
        applies=RELOADS_SPEECH,
    ),
    Setting(
        "stt_language_learned",
        str,
        "",
        "With the language on auto: the language last recognised with confidence.",
        shown=False,
    ),
    Setting(
        "input_device",
        str,
        "",
        "Microphone (its name); empty: the system's default.",
        label="Microphone",
        applies=NEXT_RECORDING,
    ),
    Setting(
        "vad_silence_s",
        float,
        0.8,
        "Seconds of silence after which recording stops by itself.",
        minimum=0.3,
        maximum=5,
        label="Silence that ends a recording (s)",
        applies=NEXT_RECORDING,
    ),
    Setting(
        "auto_read",
        bool,
        False,
        "Read answers aloud as they arrive.",
        label="Read answers aloud",
        applies=AT_ONCE,
    ),
    Setting(
        "hands_free",
        bool,
        False,
        "After an answer is read aloud, listen again.",
        label="Hands-free: listen again after reading",
        applies=AT_ONCE,
    ),
    Setting(
        "zoom",
        int,
        0,
        "Points added to the text size of the conversation and the prompt box (View → Zoom).",
        minimum=-20,
        maximum=30,
        shown=False,
    ),
    Setting(
        "window_geometry",
        str,
        "",
        "The window's size and place at the last quit (Qt's saveGeometry, base64).",
        shown=False,
    ),
    Setting(
        "window_splitter",
        str,
        "",
        "The sidebar's width at the last quit (Qt's QSplitter.saveState, base64).",
        shown=False,
    ),
    Setting(
        "remotes",
        list,
        [],
        "Remote servers with an OpenAI-compatible API (name, base URL, model, timeout); "
        "their API keys are in the system keyring.",
        shown=False,  # edited in File → Remote servers… (ui/remote_servers.py)
    ),
    Setting(
        "sidebar_shown",
        bool,
        True,
        "Whether the list of chats is shown beside the conversation (View → Chat list).",
        shown=False,
    ),
)
SCHEMA_BY_NAME = {s.name: s for s in SCHEMA}


class Settings:
    """The user's settings, loaded from and saved to `paths.settings_file()`."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or paths.settings_file()
        self._values: dict[str, Any] = {}
        self._listeners: list[Callable[[str, Any], None]] = []
        self._load()

    def _load(self) -> None:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as err:
            log.warning("settings file %s unreadable (%s); using defaults", self.path, err)
            return
        if isinstance(raw, dict):
            self._values = raw

    def get(self, name: str) -> Any:
        spec = SCHEMA_BY_NAME[name]
        value = self._values.get(name, spec.default)
        if spec.type is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, spec.type) or isinstance(value, bool) != (spec.type is bool):
            return spec.default
        if isinstance(value, dict):  # named texts (system prompts): the text ones are kept
            return {str(k): v for k, v in value.items() if isinstance(v, str)}
        if isinstance(value, list):  # records (remote servers): the readable ones are kept
            return [dict(v) for v in value if isinstance(v, dict)]
        if _invalid(spec, value):
            log.warning("setting %s = %r is out of its range; using %r", name, value, spec.default)
            return spec.default
        return value

    def set(self, name: str, value: Any) -> None:
        spec = SCHEMA_BY_NAME[name]
        if spec.type is float and isinstance(value, int):
            value = float(value)
        if not isinstance(value, spec.type):
            raise TypeError(f"setting {name} wants {spec.type.__name__}, got {value!r}")
        if _invalid(spec, value):
            raise ValueError(f"setting {name} cannot be {value!r}: {_allowed(spec)}")
        if self._values.get(name, spec.default) == value and name in self._values:
            return
        self._values[name] = value
        self._save()
        for listener in list(self._listeners):
            listener(name, value)

    def on_change(self, callback: Callable[[str, Any], None]) -> None:
        self._listeners.append(callback)

    def _save(self) -> None:
        """Write atomically: a crash mid-write never leaves a half-written file."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self._values, indent=2, sort_keys=True), encoding="utf-8")
        os.replace(tmp, self.path)


def _invalid(spec: Setting, value: Any) -> bool:
    """Outside the declared range or choices (a hand-edited file: "top_p": 0 broke every
    send). NaN is outside every range."""
    if spec.choices and value not in spec.choices:
        return True
    if spec.type in (int, float) and not isinstance(value, bool):
        return not (spec.minimum <= value <= spec.maximum)
    return False


def _allowed(spec: Setting) -> str:
    if spec.choices:
        return "one of " + ", ".join(spec.choices)
    return f"from {spec.minimum:g} to {spec.maximum:g}"
