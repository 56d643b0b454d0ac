"""`ask --file`: questions about documents on the command line (issue 22). The files are read
into the history database (once per content: asking again reads nothing) and the question is
put to the model with the passages that match it; the answer ends with its sources."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from desktop_assistant.core.documents import read_document
from desktop_assistant.core.grounding import PASSAGES, WHOLE_WORDS, grounded_question
from desktop_assistant.core.paths import file_sha256
from desktop_assistant.storage.documents import DocumentStore, Hit, StoredDocument


def stored_documents(
    store: DocumentStore, files: list[str], progress: Callable[[str], None]
) -> list[StoredDocument]:
    """Each file as stored (read now only when its bytes were never read before)."""
    found = []
    for name in files:
        path = Path(name).expanduser()
        if path.is_file():  # a missing or unreadable one: read_document says why
            try:
                known = store.find(file_sha256(path))
            except OSError:
                known = None
            if known is not None:
                found.append(known)
                continue

        def pages(done: int, total: int, label: str = path.name) -> None:
            progress(f"Reading {label}: page {done} of {total}…")

        progress(f"Reading {path.name}…")
        found.append(store.add(read_document(path, progress=pages)))
    return found


Count = Callable[[str], int]  # tokens in a text, as the model counts them


def sources_for(
    store: DocumentStore, question: str, documents: list[StoredDocument], budget: int,
    count: Count,
) -> list[Hit]:  # fmt: skip
    """Short documents whole (`WHOLE_WORDS` in all), else the best `PASSAGES` passages; as
    many as fit `budget` tokens (the model's context less the question and its answer), the
    best first."""
    ids = [d.id for d in documents]
    whole = [hit for i in ids for hit in store.all_passages(i)]
    short = sum(len(h.text.split()) for h in whole) <= WHOLE_WORDS
    if short and sum(count(h.text) + 12 for h in whole) <= budget:
        return whole
    hits: list[Hit] = []
    used = 0
    for hit in store.search(question, ids, PASSAGES):
        tokens = count(hit.text) + 12  # and its "[n] name, page" line
        if used + tokens > budget:
            if hits:
                break
            words = hit.text.split()  # a tiny context: the best passage, cut to fit
            keep = max(10, len(words) * max(budget, 0) // max(tokens, 1))
            hit = replace(hit, text=" ".join(words[:keep]))
        hits.append(hit)
        used += tokens
    return hits


def token_counter(engine: object) -> Count:
    """The engine's own count where it has a tokenizer, else about 1.4 tokens a word."""
    tokenizer = getattr(engine, "tokenizer", None)
    if tokenizer is not None and hasattr(tokenizer, "encode"):
        return lambda text: len(tokenizer.encode(text, add_special_tokens=False))
    return lambda text: int(len(text.split()) * 1.4) + 1


def grounded(
    store: DocumentStore,
    question: str,
    documents: list[StoredDocument],
    engine: object,
    answer_tokens: int,
) -> tuple[str, list[Hit]]:
    """The question with its sources, within the engine's context (a remote server's is not
    known here: 32k tokens are assumed)."""
    count = token_counter(engine)
    context = getattr(engine, "context_tokens", 0) or 32_768
    names = [d.name for d in documents]
    spare = context - answer_tokens - count(grounded_question(question, [], names)) - 96
    hits = sources_for(store, question, documents, spare, count)
    return grounded_question(question, hits, names), hits
