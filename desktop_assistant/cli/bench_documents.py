"""`bench documents`: reading a long PDF (pages per second, memory), indexing and finding its
passages, and, with a model, the time from a question to the first token of its answer with
the retrieved passages in the prompt; `eval documents`: retrieval accuracy over a set of
questions with the words that mark each answer's passage (issue 22).

Without `--pdf`, a 300-page PDF is written first (fpdf2, a test dependency): pages of varied
prose, one of which holds the answer to the question asked.
"""

from __future__ import annotations

import random
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from desktop_assistant.core.errors import UserError

QUESTION = "What was the harbour master's boat called?"
ANSWER = "The harbour master's boat was called the Saltwind, and it was painted green."
_WORDS = """
    river market council winter harvest bridge railway school letter garden weather merchant
    lantern village meeting ledger orchard mill road church station summer county doctor
    festival shop cottage field morning evening traveller story
"""
WORDS = _WORDS.split()


def write_pdf(path: Path, pages: int, answer_page: int, seed: int = 7) -> Path:
    try:
        from fpdf import FPDF
    except ImportError as err:
        raise UserError("give --pdf FILE, or install fpdf2 to write a test PDF") from err
    rng = random.Random(seed)
    pdf = FPDF()
    pdf.set_font("helvetica", size=10)
    for number in range(1, pages + 1):
        pdf.add_page()
        sentences = [
            " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 16))).capitalize() + "."
            for _ in range(28)
        ]
        if number == answer_page:
            sentences.insert(14, ANSWER)
        pdf.multi_cell(0, 5, " ".join(sentences))
    pdf.output(str(path))
    return path


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 1e6


def bench_documents(pdf: str | None, pages: int, model: str | None, question: str) -> dict:
    from desktop_assistant.core.cpu import cpu_name
    from desktop_assistant.core.documents import passages, read_document
    from desktop_assistant.storage.database import open_database
    from desktop_assistant.storage.documents import DocumentStore

    work = Path(tempfile.mkdtemp(prefix="bench-documents-"))
    answer_page = max(1, pages * 2 // 3)
    path = write_pdf(work / "long.pdf", pages, answer_page) if pdf is None else Path(pdf)
    before = _rss_mb()
    started = time.perf_counter()
    document = read_document(path)
    read_s = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3  # kB on Linux
    cut = passages(document)
    store = DocumentStore(open_database(work / "history.sqlite3").connection)
    started = time.perf_counter()
    stored = store.add(document)
    index_s = time.perf_counter() - started
    started = time.perf_counter()
    hits = store.search(question, [stored.id])
    search_ms = (time.perf_counter() - started) * 1000
    result: dict[str, Any] = {
        "cpu": cpu_name(),
        "file": path.name,
        "pages": len(document.pages),
        "read_s": round(read_s, 2),
        "pages_per_s": round(len(document.pages) / read_s, 1),
        "rss_before_mb": round(before, 1),
        "peak_rss_mb": round(peak, 1),
        "passages": len(cut),
        "index_s": round(index_s, 3),
        "search_ms": round(search_ms, 2),
        "found_on": [h.place for h in hits],
    }
    if pdf is None:
        result["answer_page_in_top_5"] = f"page {answer_page}" in result["found_on"]
    if model:
        result.update(_first_token(store, stored, question, model))
    store.db.close()
    return result


def _first_token(store: Any, stored: Any, question: str, model: str) -> dict[str, Any]:
    """Question to first token, retrieval and prompt included, the model already loaded."""
    from desktop_assistant.core.conversation import Message
    from desktop_assistant.inference.factory import open_engine
    from desktop_assistant.inference.options import GenerationOptions
    from desktop_assistant.storage.documents import grounded

    engine = open_engine(model)
    engine.load()
    options = GenerationOptions(max_new_tokens=16, temperature=0.0)
    first: list[float] = []
    started = time.perf_counter()
    prompt, hits, _numbers = grounded(store, question, [stored], engine, options.max_new_tokens)
    retrieval_s = time.perf_counter() - started
    reply = engine.generate(
        [Message("user", prompt)], options, lambda _: first.append(time.perf_counter())
    )
    engine.unload()
    return {
        "model": Path(model).name,
        "passages_in_prompt": len(hits),
        "prompt_tokens": reply.stats.prompt_tokens,
        "retrieval_and_prompt_s": round(retrieval_s, 3),
        "question_to_first_token_s": round(
            (first[0] if first else time.perf_counter()) - started, 2
        ),  # fmt: skip
        "answer": reply.text,
    }


def eval_documents(qa_file: str, folder: str, split: str = "held-out") -> dict[str, Any]:
    """How often a question's answer passage is among the five retrieved: searching its own
    document, and searching all of them at once (a collection). `split`: "held-out" (odd
    positions), "tune" (even) or "all"."""
    import json

    from desktop_assistant.core.documents import read_document
    from desktop_assistant.storage.database import open_database
    from desktop_assistant.storage.documents import DocumentStore

    try:
        qa = json.loads(Path(qa_file).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise UserError(f"cannot read {qa_file}: {err}") from err
    work = Path(tempfile.mkdtemp(prefix="eval-documents-"))
    store = DocumentStore(open_database(work / "history.sqlite3").connection)
    ids = {}
    for name in qa["documents"]:
        ids[name] = store.add(read_document(Path(folder) / name)).id
    chosen = [q for i, q in enumerate(qa["questions"])
              if split == "all" or (i % 2 == 1) == (split == "held-out")]  # fmt: skip
    own = every = 0
    missed = []
    for entry in chosen:
        keys = [_plain(k) for k in entry["keys"]]

        def found(hits: list[Any], keys: list[str] = keys) -> bool:
            return any(k in _plain(h.text) for h in hits for k in keys)

        alone = found(store.search(entry["question"], [ids[entry["document"]]]))
        together = found(store.search(entry["question"], list(ids.values())))
        own += alone
        every += together
        if not (alone and together):
            missed.append({"question": entry["question"], "own": alone, "all": together})
    store.db.close()
    return {
        "split": split,
        "questions": len(chosen),
        "top5_in_its_document": round(own / len(chosen), 3) if chosen else 0.0,
        "top5_in_all_documents": round(every / len(chosen), 3) if chosen else 0.0,
        "missed": missed,
    }


def _plain(text: str) -> str:
    return " ".join(text.lower().split())
