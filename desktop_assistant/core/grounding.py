"""Questions about the user's documents (issue 22): the prompt that puts the relevant passages
in front of the model, and the list of sources an answer ends with.

Documents short enough (`WHOLE_WORDS` in all) go in whole; otherwise the best passages
(`storage.documents.DocumentStore.search`). The model is told to answer from them only, to
cite them by number, and to say so when they do not hold the answer; when no passage
matches at all, it is told that too, so that it does not invent one. The sources listed
after the answer are the app's own (the passages it gave, the cited ones when the answer
cites), never the model's words.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

WHOLE_WORDS = 1500  # about 2,000 tokens: documents this short in all go in whole
PASSAGES = 5  # retrieved per question
NOTHING_FOUND = "NONE"


class Source(Protocol):
    @property
    def document(self) -> str: ...  # its name

    @property
    def place(self) -> str: ...  # "page 12"

    @property
    def text(self) -> str: ...


INSTRUCTIONS = (
    "Answer the question using only the numbered sources below, taken from the user's "
    "documents. Cite the sources you use like [1] or [2]. If the sources do not contain the "
    "answer, say that the documents do not say, and do not guess."
)


EARLIER = (
    "Answer the question using only the numbered sources given earlier in this conversation "
    "({numbers} match it). Cite the sources you use like [1]. If they do not contain the "
    "answer, say that the documents do not say, and do not guess."
)


def grounded_question(
    question: str,
    sources: Sequence[Source],
    names: Sequence[str],
    first: int = 1,
    earlier: Sequence[int] = (),
    numbers: Sequence[int] = (),
) -> str:
    """The user's message as the model gets it: the sources, then the question. In a
    conversation, sources given with an earlier question are not given again (the model has
    read them: the KV cache keeps them): `sources` are the new ones, numbered from `first`
    (or by `numbers`, one each), and `earlier` the numbers of those given before that match
    this question too."""
    if not sources and not earlier:
        return (
            f"The user asked about their documents ({', '.join(names)}), but no passage of "
            "them matches the question. Say that the documents do not seem to say, and "
            f"suggest other words to ask with.\n\nQuestion: {question}"
        )
    if not sources:
        listed = ", ".join(f"[{n}]" for n in earlier)
        return f"{EARLIER.format(numbers=listed)}\n\nQuestion: {question}"
    labels = list(numbers) or range(first, first + len(sources))
    numbered = "\n\n".join(
        f"[{n}] {s.document}, {s.place}:\n{s.text}" for n, s in zip(labels, sources, strict=True)
    )
    also = ""
    if earlier:
        listed = ", ".join(f"[{n}]" for n in earlier)
        also = f"\n\nSources given earlier in this conversation that match too: {listed}."
    return f"{INSTRUCTIONS}\n\nSources:\n\n{numbered}{also}\n\nQuestion: {question}"


_HEADER = re.compile(r"^\[(\d{1,4})\] [^\n]*, [^\n]*:$", re.MULTILINE)


def numbers_given(sent: str) -> set[int]:
    """The numbers of the sources a question as sent (`grounded_question`) gives in full."""
    if "\n\nSources:\n\n" not in sent:
        return set()
    block = sent.split("\n\nSources:\n\n", 1)[1].rsplit("\n\nQuestion: ", 1)[0]
    return {int(n) for n in _HEADER.findall(block)}


def cited(answer: str, numbers: Sequence[int]) -> list[int]:
    """Which of the source `numbers` the answer cites, in the order it cites them; all of
    them when it cites none."""
    said = [int(n) for n in re.findall(r"\[(\d{1,3})\]", answer)]
    return [n for n in dict.fromkeys(said) if n in numbers] or list(numbers)


@dataclass(frozen=True)
class CitedSource:
    """A source an answer used, as the window shows and saves it with the answer."""

    number: int  # as the prompt numbered it: [2]
    document: str
    place: str  # "page 12"
    passage_id: int = 0  # its row in the passages table (a link opens it)

    def label(self) -> str:
        return f"[{self.number}] {self.document}, {self.place}"

    @classmethod
    def from_saved(cls, saved: Any) -> tuple[CitedSource, ...]:
        """The sources saved with an answer (a list of dicts), leaving out malformed ones."""
        found = []
        for item in saved if isinstance(saved, list) else ():
            try:
                found.append(cls(int(item["number"]), str(item["document"]),
                                 str(item["place"]), int(item.get("passage_id", 0))))  # fmt: skip
            except (KeyError, TypeError, ValueError):
                continue
        return tuple(found)


def cited_sources(
    answer: str, sources: Sequence[Source], numbers: Sequence[int] | None = None
) -> list[CitedSource]:
    """The sources the answer cites (all when it cites none), in number order. `numbers`:
    each source's number in the prompt (default 1, 2, ...)."""
    numbered = dict(zip(numbers or range(1, len(sources) + 1), sources, strict=True))
    chosen = cited(answer, list(numbered))
    return [
        CitedSource(
            n, numbered[n].document, numbered[n].place, int(getattr(numbered[n], "passage_id", 0))
        )
        for n in sorted(chosen)
    ]


def sources_footer(answer: str, sources: Sequence[Source]) -> str:
    """ "Sources:" and one line per source used: "[2] report.pdf, page 12"."""
    if not sources:
        return "Sources: none of the documents matched the question."
    return "Sources:\n" + "\n".join(s.label() for s in cited_sources(answer, sources))
