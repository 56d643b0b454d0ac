"""Issue 22's 'done when', on real weights: a long PDF dropped into a chat (and given to
`ask --file`), a question whose answer is on one page, and that page named in the sources."""

from __future__ import annotations

import pytest

from tests.core.test_documents import make_pdf
from tests.test_cli import run

pytestmark = pytest.mark.real_models

FACT_PAGE = 17
FACT = "The night ferry to Skerry Island was moved from 21:40 to 22:15 in March."
QUESTION = "When does the night ferry to Skerry Island leave now?"
FILLER = (
    "Harbour board minutes: the committee reviewed moorings, dredging of the channel, "
    "repairs to the north pier and the lighthouse budget. "
)


@pytest.fixture
def qwen(real_models_dir):
    model = real_models_dir / "qwen2.5-coder-0.5b-instruct"
    if not model.is_dir():
        pytest.skip(f"{model} is missing")
    return model


@pytest.fixture
def harbour_pdf(tmp_path):
    pages = [f"Page {n}. " + FILLER * 8 for n in range(1, 41)]
    pages[FACT_PAGE - 1] = f"Page {FACT_PAGE}. " + FILLER * 3 + FACT + " " + FILLER * 3
    return make_pdf(tmp_path / "harbour-board.pdf", pages)


@pytest.mark.timeout(600)
def test_ask_file_names_the_page_of_the_answer(qwen, harbour_pdf, isolated_home):
    result = run(
        "ask", "--model", str(qwen), "--file", str(harbour_pdf), "--temperature", "0",
        "--max-new-tokens", "48", QUESTION, timeout=420,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    answer, _, sources = result.stdout.rpartition("Sources:")
    assert answer.strip()
    assert f"harbour-board.pdf, page {FACT_PAGE}" in sources


@pytest.mark.timeout(600)
def test_the_window_answers_from_a_dropped_pdf_with_its_page(
    qtbot, qwen, harbour_pdf, isolated_home, tmp_path
):
    from desktop_assistant.core.settings import Settings
    from desktop_assistant.ui.main_window import MainWindow
    from desktop_assistant.ui.workers.chat import ChatThread, engine_factory_for
    from desktop_assistant.ui.workers.history import HistoryThread

    settings = Settings(tmp_path / "settings.json")
    settings.set("temperature", 0.0)
    settings.set("max_new_tokens", 48)
    history = HistoryThread(tmp_path / "history.sqlite3")
    window = MainWindow(settings, ChatThread(engine_factory_for(settings)), str(qwen), history)
    qtbot.addWidget(window)
    window.show()
    window.start()
    try:
        qtbot.waitUntil(lambda: window.state == "ready", timeout=300_000)
        window.intake.take_files([harbour_pdf])
        qtbot.waitUntil(lambda: bool(window.composer.documents.documents()), timeout=60_000)
        [document] = window.composer.documents.documents()
        assert document.pages == 40
        with qtbot.waitSignal(window.reply_finished, timeout=300_000) as first:
            window.send(QUESTION)
        answer = window.view.messages()[-1]
        assert answer.text.strip()
        assert f"harbour-board.pdf, page {FACT_PAGE}" in answer.sources_text()
        # a follow-up about the same passage reads only its own words (KV cache reused)
        with qtbot.waitSignal(window.reply_finished, timeout=300_000) as second:
            window.send("And when did the night ferry to Skerry Island leave before?")
        before, after = first.args[0].stats, second.args[0].stats
        print(
            f"first: {before.prompt_tokens} tokens, {before.ttft_s:.2f} s to the first token; "
            f"follow-up: {after.prompt_tokens} ({after.cached_tokens} cached), {after.ttft_s:.2f} s"
        )
        assert after.cached_tokens >= before.prompt_tokens
        assert f"harbour-board.pdf, page {FACT_PAGE}" in window.view.messages()[-1].sources_text()
    finally:
        window.close()
