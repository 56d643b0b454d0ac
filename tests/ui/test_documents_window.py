"""Documents in the window (issue 22): dropped files become chips, questions are answered from
their passages, and the answer names its sources, which open the passage."""

from __future__ import annotations

import sqlite3

from PySide6.QtWidgets import QApplication, QDialog, QPlainTextEdit

from tests.core.test_documents import make_pdf
from tests.fakes import FakeChatEngine
from tests.ui.helpers import send, wait_ready

PAGES = [
    "The harbour master keeps the tide tables in a green ledger. " * 5,
    "Lighthouse keepers trim the wick of the lamp every evening at dusk. " * 5,
    "The ferry to the island leaves at seven and returns at noon. " * 5,
]


def _opened(qtbot, window):
    """The model is ready and the history thread has opened (migrated) its database."""
    from desktop_assistant.storage.database import SCHEMA_VERSION

    db = window.history.worker.path

    def migrated():
        return db.exists() and _db_rows(db, "PRAGMA user_version") == [(SCHEMA_VERSION,)]

    qtbot.waitUntil(migrated, timeout=10_000)
    wait_ready(qtbot, window)


def _chips(window):
    return window.composer.documents.documents()


def _add(qtbot, window, path):
    tray = window.composer.documents
    window.intake.take_files([path])
    assert tray.isVisible()
    qtbot.waitUntil(lambda: not tray.busy, timeout=20_000)


def _db_rows(db, sql):
    connection = sqlite3.connect(db)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def test_a_dropped_pdf_answers_with_its_page_named_and_opened(qtbot, make_window, tmp_path):
    db = tmp_path / "history.sqlite3"
    engine = FakeChatEngine(tokens=["The ferry ", "leaves at seven [3]."])
    window, _ = make_window(engine, history=db)
    _opened(qtbot, window)
    pdf = make_pdf(tmp_path / "harbour.pdf", PAGES)
    _add(qtbot, window, pdf)
    [document] = _chips(window)
    assert (document.name, document.kind, document.pages) == ("harbour.pdf", "pdf", 3)
    assert "harbour.pdf · 3 pages" in [
        c.label.text() for c in window.composer.documents._chips.values()
    ]

    with qtbot.waitSignal(window.reply_finished, timeout=20_000):
        send(qtbot, window, "When does the ferry leave?")
    question = engine.calls[-1][-1].content
    assert "ferry to the island" in question and "harbour.pdf, page 3" in question
    assert "When does the ferry leave?" in question
    user, answer = window.view.messages()
    assert user.text == "When does the ferry leave?"  # shown as typed, not with its sources
    assert answer.sources_text() == "Sources: [3] harbour.pdf, page 3"

    # kept with the conversation, and the sources with the answer
    qtbot.waitUntil(lambda: bool(_db_rows(db, "SELECT * FROM conversation_documents")))
    qtbot.waitUntil(
        lambda: any(
            "harbour.pdf" in (r[0] or "") for r in _db_rows(db, "SELECT stats FROM messages")
        )
    )

    # a click on the source opens the passage
    answer.action_requested.emit(answer_link(answer))
    qtbot.waitUntil(lambda: _passage_dialog() is not None, timeout=5_000)
    dialog = _passage_dialog()
    assert dialog.windowTitle() == "harbour.pdf, page 3"
    assert "ferry to the island" in dialog.findChild(QPlainTextEdit).toPlainText()
    dialog.close()

    # the next question in the chat uses the document too: already given (whole), so by number
    with qtbot.waitSignal(window.reply_finished, timeout=20_000):
        send(qtbot, window, "Who trims the wick of the lamp?")
    earlier, latest = engine.calls[-1][-3], engine.calls[-1][-1]
    assert "harbour.pdf, page 2" in earlier.content and "[2]" in latest.content


def answer_link(widget) -> str:
    text = widget._sources.text()
    return "source:" + text.split('href="source:')[1].split('"')[0]


def _passage_dialog():
    for widget in QApplication.topLevelWidgets():
        if isinstance(widget, QDialog) and widget.objectName() == "passage" and widget.isVisible():
            return widget
    return None


def test_a_reopened_chat_has_its_documents_and_sources(qtbot, make_window, tmp_path):
    db = tmp_path / "history.sqlite3"
    window, _ = make_window(FakeChatEngine(tokens=["Seven."]), history=db)
    _opened(qtbot, window)
    notes = tmp_path / "notes.md"
    notes.write_text("# Ferry\n\nThe ferry leaves at seven.\n\n# Lamp\n\nTrim the wick.\n")
    _add(qtbot, window, notes)
    with qtbot.waitSignal(window.reply_finished, timeout=20_000):
        send(qtbot, window, "When does the ferry leave?")
    qtbot.waitUntil(lambda: bool(_db_rows(db, "SELECT * FROM conversation_documents")))
    window.close()

    again, _ = make_window(FakeChatEngine(), history=db)
    _opened(qtbot, again)
    [(conversation_id,)] = _db_rows(db, "SELECT id FROM conversations")
    again.conversations.open(conversation_id)
    qtbot.waitUntil(lambda: len(again.view.messages()) == 2, timeout=10_000)
    qtbot.waitUntil(lambda: [d.name for d in _chips(again)] == ["notes.md"], timeout=10_000)
    assert again.view.messages()[1].sources_text() == "Sources: [1] notes.md, line 1"

    # a new chat has none; taking the document out of the old one forgets it
    again.conversations.new_chat()
    assert _chips(again) == [] and not again.composer.documents.isVisible()
    again.conversations.open(conversation_id)
    qtbot.waitUntil(lambda: bool(_chips(again)), timeout=10_000)
    tray = again.composer.documents
    tray.remove(next(iter(tray._chips)))
    qtbot.waitUntil(lambda: not _db_rows(db, "SELECT * FROM documents"), timeout=10_000)
    assert not _db_rows(db, "SELECT * FROM passages")


def test_bad_documents_are_refused_with_a_message_and_nothing_typed_is_lost(
    qtbot, make_window, tmp_path
):
    db = tmp_path / "history.sqlite3"
    window, engine = make_window(history=db)
    _opened(qtbot, window)
    qtbot.keyClicks(window.composer.edit, "my draft question")
    empty = tmp_path / "empty.txt"
    empty.write_text("   \n")
    fake_docx = tmp_path / "report.docx"
    fake_docx.write_bytes(b"this is not a word file")
    scan = make_pdf(tmp_path / "scan.pdf", ["", ""], image_only=True)
    for path in (empty, fake_docx, scan):
        window.intake.take_files([path])
    qtbot.waitUntil(lambda: not window.composer.documents.busy, timeout=20_000)
    qtbot.waitUntil(lambda: len(window.view.messages()) == 3, timeout=5_000)
    notices = [m.text for m in window.view.messages()]
    assert any("empty.txt is empty" in n for n in notices)
    assert any("report.docx" in n and "DOCX" in n for n in notices)
    assert any("scan.pdf" in n and "OCR" in n for n in notices)
    assert _chips(window) == [] and not window.composer.documents.isVisible()
    assert window.composer.text() == "my draft question"
    assert engine.calls == []


def test_without_a_history_documents_are_refused_clearly(qtbot, make_window, tmp_path):
    window, _ = make_window()
    wait_ready(qtbot, window)
    notes = tmp_path / "notes.txt"
    notes.write_text("The ferry leaves at seven.")
    window.intake.take_files([notes])
    [notice] = window.view.messages()
    assert "notes.txt was not added" in notice.text and "history" in notice.text
    assert _chips(window) == []


def test_pictures_and_documents_are_told_apart(tmp_path):
    from desktop_assistant.core.documents import looks_like_document

    pdf_named_png = make_pdf(tmp_path / "scan.png", ["Some text."])
    (tmp_path / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 32)
    (tmp_path / "main.py").write_text("print(1)\n")
    (tmp_path / "old.doc").write_bytes(b"\xd0\xcf\x11\xe0")
    assert looks_like_document(pdf_named_png)
    assert not looks_like_document(tmp_path / "photo.png")
    assert looks_like_document(tmp_path / "main.py")
    assert looks_like_document(tmp_path / "old.doc")  # refused as a document, with why
    assert not looks_like_document(tmp_path / "missing.pdf")


def test_a_dropped_folder_is_a_collection_for_any_chat(qtbot, make_window, tmp_path):
    db = tmp_path / "history.sqlite3"
    engine = FakeChatEngine(tokens=["At seven [1]."])
    window, _ = make_window(engine, history=db)
    _opened(qtbot, window)
    folder = tmp_path / "harbour notes"
    (folder / "deep").mkdir(parents=True)
    (folder / "ferry.md").write_text("The ferry leaves at seven.\n")
    (folder / "deep" / "lamp.txt").write_text("Trim the wick at dusk.\n")
    (folder / ".hidden.txt").write_text("not read\n")
    (folder / "broken.docx").write_bytes(b"not a word file")
    (folder / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n")  # not a document: not read
    window.intake.take_files([folder])
    tray = window.composer.documents
    qtbot.waitUntil(lambda: not tray.busy, timeout=20_000)
    [collection] = tray.collections()
    assert collection.name == "harbour notes" and len(collection.document_ids) == 2
    assert any("broken.docx" in m.text for m in window.view.messages())  # said, not silent
    with qtbot.waitSignal(window.reply_finished, timeout=20_000):
        send(qtbot, window, "When does the ferry leave?")
    assert "ferry.md" in engine.calls[-1][-1].content
    qtbot.waitUntil(lambda: bool(_db_rows(db, "SELECT * FROM conversation_collections")))

    # another chat: the collection from the menu, nothing read again
    window.conversations.new_chat()
    assert tray.collections() == []
    qtbot.waitUntil(lambda: len(window.conversations.collections) == 1, timeout=5_000)
    tray.use_collection(window.conversations.collections[0])
    assert not tray.busy and [c.name for c in tray.collections()] == ["harbour notes"]
    with qtbot.waitSignal(window.reply_finished, timeout=20_000):
        send(qtbot, window, "When do I trim the wick?")
    assert "lamp.txt" in engine.calls[-1][-1].content
    qtbot.waitUntil(lambda: len(_db_rows(db, "SELECT * FROM conversation_collections")) == 2)
    assert len(_db_rows(db, "SELECT * FROM documents")) == 2  # read once

    # deleting the collection takes it from every chat, and its documents with it
    window.conversations.history.delete_collection.emit(collection.id)
    tray.forget_collection(collection.id)
    qtbot.waitUntil(lambda: not _db_rows(db, "SELECT * FROM documents"), timeout=5_000)
    assert not _db_rows(db, "SELECT * FROM conversation_collections")
    assert tray.collections() == []


def test_a_follow_up_reuses_the_sources_already_given(qtbot, make_window, tmp_path):
    """The prompt up to a follow-up is the one the model read before (its KV cache holds
    it): sources given once are named by number, not given again."""
    db = tmp_path / "history.sqlite3"
    engine = FakeChatEngine(tokens=["Seven [1]."])
    window, _ = make_window(engine, history=db)
    _opened(qtbot, window)
    filler = "The committee reviewed moorings, dredging and the north pier budget. " * 30
    pages = [filler] * 12
    pages[4] = filler[:300] + " The ferry to the island leaves at seven. " + filler[:300]
    pages[9] = filler[:300] + " The lamp wick is trimmed at dusk by the keeper. " + filler[:300]
    _add(qtbot, window, make_pdf(tmp_path / "minutes.pdf", pages))

    with qtbot.waitSignal(window.reply_finished, timeout=20_000):
        send(qtbot, window, "When does the ferry to the island leave?")
    first = engine.calls[-1]
    assert "[1] minutes.pdf, page 5" in first[-1].content
    assert window.view.messages()[-1].sources_text() == "Sources: [1] minutes.pdf, page 5"

    with qtbot.waitSignal(window.reply_finished, timeout=20_000):
        send(qtbot, window, "And the ferry: does it leave from the island?")
    second = engine.calls[-1]
    assert second[: len(first)] == first  # the earlier question as it was sent, sources too
    follow_up = second[-1].content
    assert "ferry to the island leaves at seven" not in follow_up  # not given again
    assert "[1]" in follow_up and follow_up.endswith("does it leave from the island?")
    assert window.view.messages()[-1].sources_text() == "Sources: [1] minutes.pdf, page 5"

    engine.tokens = ["At dusk [2]."]
    with qtbot.waitSignal(window.reply_finished, timeout=20_000):
        send(qtbot, window, "When is the lamp wick trimmed?")
    third = engine.calls[-1][-1].content
    assert "lamp wick is trimmed at dusk" in third and "[2] minutes.pdf, page 10" in third
    assert window.view.messages()[-1].sources_text() == "Sources: [2] minutes.pdf, page 10"
