"""The spoken language on "auto": decided per speaker, not per clip.

Whisper reads the language off the first decoder step of every window. On a two-second command
that guess is poor (whisper-base took "switch to dark mode" for Polish and decoded "Clear the
image."), and a wrong language ruins the whole transcript. So the language is remembered:

- a clip of at least `CONFIDENT_S` seconds whose most likely language has probability
  `CONFIDENT_P` or more is a confident detection: it is used, and remembered;
- any other clip is decoded in the remembered language, unless Whisper finds that language
  itself unlikely on it (below `KEEP_P`) while it is sure of another one;
- before anything is remembered, the prior is used: the last language remembered in an earlier
  session (the window keeps it in the settings), else the desktop's language when Whisper knows
  it, else English (`FALLBACK`: the language of the voice commands; a desktop in the C locale
  names none). The prior is never remembered: only speech teaches the language.

Measured with whisper-base on speech-dev, real-speech and the tuning half of the paraphrase
audio (208 clips, all English): Whisper's own guess was wrong on 31 of the 173 clips under 3 s
(18%: Polish, French, Japanese, Latin...), on 1 of 23 clips of 3-6 s (at p 0.61) and on none
longer. 20 of the 35 clips of 3 s or more were detected at 0.8 or more, all rightly; no short
clip was wrongly detected at 0.9 or more. No clip in another language was at hand to check the
"sure of another" rule on.
"""

from __future__ import annotations

import locale
import logging
import os
import threading
from collections.abc import Mapping

from desktop_assistant.core.settings import Settings

log = logging.getLogger(__name__)
CONFIDENT_S = 3.0  # seconds of speech a detection needs to be remembered...
CONFIDENT_P = 0.8  # ...and the probability of its best language
KEEP_P = 0.02  # below this, the remembered language is not taken for a clip...
SURE_P = 0.9  # ...whose best language is at least this likely
FALLBACK = "en"


def desktop_language() -> str | None:
    """The two-letter code of the desktop's language (LANGUAGE, LC_ALL, LC_MESSAGES, LANG),
    or None in the C/POSIX locale."""
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(name, "")
        code = value.split(":")[0].split("_")[0].split(".")[0].lower()
        if code and code not in ("c", "posix"):
            return code
    try:
        found = locale.getlocale()[0]
    except ValueError:
        return None
    return found.split("_")[0].lower() if found else None


def language_prior(settings: Settings) -> str | None:
    """What "auto" starts from: the language learned in an earlier session (the window keeps
    it in the settings), else the desktop's."""
    return settings.get("stt_language_learned") or desktop_language() or FALLBACK


class SpokenLanguage:
    """What language to decode a clip in, when the setting is "auto". Thread-safe."""

    def __init__(self, prior: str | None = None) -> None:
        self._remembered: str | None = None
        self._prior = prior or None
        self._lock = threading.Lock()

    @property
    def remembered(self) -> str | None:
        """The language of the last confident detection this session."""
        return self._remembered

    def use_prior(self, known: Mapping[str, int] | set[str] | list[str]) -> None:
        """Keep the prior only if the model knows it (a desktop in Basque, a tiny.en...)."""
        if self._prior is not None and self._prior not in known:
            log.info("the prior language %s is not one the speech model knows", self._prior)
            self._prior = None

    def choose(self, probs: Mapping[str, float], speech_s: float, learn: bool = True) -> str:
        """The language for a clip of `speech_s` seconds, given Whisper's language
        probabilities for it; remembers confident detections when `learn`."""
        best = max(probs, key=lambda code: probs[code])
        with self._lock:
            if speech_s >= CONFIDENT_S and probs[best] >= CONFIDENT_P:
                if learn and best != self._remembered:
                    log.info("speech language: %s (p=%.2f)", best, probs[best])
                    self._remembered = best
                return best
            known = self._remembered or self._prior
        if known is None or known not in probs:
            return best
        if probs[known] < KEEP_P and probs[best] >= SURE_P:
            return best  # plainly another language: use it, without remembering it
        return known
