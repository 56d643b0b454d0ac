"""`ask --file`: questions about documents on the command line (issue 22), run as a user runs
it. The tiny model's words are random: what is checked is what it was given and the sources
the answer ends with."""

from __future__ import annotations

import json
import sqlite3

import pytest

from tests.core.test_documents import make_pdf
from tests.test_cli import assert_one_error_line, run

pytestmark = pytest.mark.slow
FILLER = "The committee discussed the budget, the schedule and the staffing of the project. "
QUESTION = "How much was the lighthouse keeper paid?"


@pytest.fixture
def report(tmp_path):
    pages = [FILLER * 30 for _ in range(12)]
    pages[7] = FILLER * 5 + "The lighthouse keeper was paid forty shillings a month. " + FILLER
    return make_pdf(tmp_path / "report.pdf", pages)


def test_the_answer_names_the_page_it_came_from(tiny_chat_dir, report, isolated_home):
    args = ("ask", "--model", str(tiny_chat_dir), "--max-new-tokens", "4", "--file", str(report))
    result = run(*args, "--json", QUESTION)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert {"document": "report.pdf", "place": "page 8"} in out["sources"]
    assert out["prompt_tokens"] > 100  # the passages went in with the question
    plain = run(*args, QUESTION)
    assert plain.returncode == 0, plain.stderr
    footer = plain.stdout.split("Sources:\n", 1)[1]
    assert "report.pdf, page 8" in footer
    db = sqlite3.connect(isolated_home / "data" / "history.sqlite3")
    assert db.execute("SELECT count(*) FROM documents").fetchone()[0] == 1  # read once
    db.close()


def test_a_short_note_goes_in_whole(tiny_chat_dir, tmp_path, isolated_home):
    note = tmp_path / "note.md"
    note.write_text("# Shopping\n\nEggs, flour and a bag of lemons.\n")
    result = run("ask", "--model", str(tiny_chat_dir), "--max-new-tokens", "2", "--json",
                 "--file", str(note), "What do I need to buy?")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["sources"] == [{"document": "note.md", "place": "line 1"}]


def test_files_that_cannot_be_read_are_one_error_line(tiny_chat_dir, tmp_path, isolated_home):
    scanned = make_pdf(tmp_path / "scan.pdf", ["x"], image_only=True)
    result = run("ask", "--model", str(tiny_chat_dir), "--file", str(scanned), "Hi")
    assert_one_error_line(result, 2, "scan.pdf", "no OCR")
    result = run("ask", "--model", str(tiny_chat_dir), "--file", str(tmp_path / "gone.pdf"), "Hi")
    assert_one_error_line(result, 2, "cannot open gone.pdf")


def test_bench_documents_prints_its_figures(isolated_home):
    result = run("bench", "documents", "--pages", "12", "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["pages"] == 12 and out["pages_per_s"] > 0 and out["passages"] >= 12
    assert out["answer_page_in_top_5"] is True and out["found_on"][0] == "page 8"
    assert out["cpu"] and out["peak_rss_mb"] > 0
    assert_one_error_line(run("bench", "documents", "--pdf", "x.pdf"), 2, "--question")


def test_eval_documents_counts_the_answer_passages_found(tmp_path, isolated_home):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "ships.txt").write_text("\n".join(
        ["The harbour was quiet that winter."] * 70
        + ["The harbour master's boat was called the Saltwind."]
        + ["Gulls circled the quay."] * 70
    ))  # fmt: skip
    (docs / "farms.txt").write_text("The orchard gave apples and pears every autumn.\n" * 50)
    qa = tmp_path / "qa.json"
    asked = [
        ("ships.txt", "What was the boat called?", "Saltwind"),
        ("farms.txt", "What grew in the orchard?", "pears"),
        ("ships.txt", "Which zeppelin?", "Saltwind"),
    ]
    questions = [{"document": d, "question": q, "keys": [k]} for d, q, k in asked]
    qa.write_text(json.dumps({"documents": ["ships.txt", "farms.txt"], "questions": questions}))
    result = run("eval", "documents", "--qa", str(qa), "--docs", str(docs), "--split", "all")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["questions"] == 3 and out["top5_in_its_document"] == pytest.approx(2 / 3, 0.01)
    assert [m["question"] for m in out["missed"]] == ["Which zeppelin?"]
