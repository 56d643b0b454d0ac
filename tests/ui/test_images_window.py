"""Pictures into the window: drop, paste, pick; the tray; sending them; text-only models."""

from __future__ import annotations

from pathlib import Path

from PIL import Image
from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDropEvent, QImage
from PySide6.QtWidgets import QApplication, QFileDialog

from desktop_assistant.storage.history import History
from tests.fakes import FakeChatEngine
from tests.ui.helpers import wait_ready


class FakeVisionEngine(FakeChatEngine):
    reads_images = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.prepared: list[tuple[list[Path], bool]] = []
        self.reads_ahead = True  # False: as if every reading ahead were stopped

    def estimate_image_seconds(self, sizes, high_detail):
        return len(sizes) * (13.0 if high_detail else 1.0)

    def prepare_pictures(self, paths, high_detail):
        self.prepared.append((list(paths), high_detail))
        return [p for p in paths if self.reads_ahead and p.name != "unreadable.png"]


def _picture(path: Path, colour=(200, 30, 30), size=(64, 48)) -> Path:
    Image.new("RGB", size, colour).save(path)
    return path


def _drop(window, mime: QMimeData) -> None:
    target = window.view.viewport()
    event = QDropEvent(
        QPoint(10, 10).toPointF(),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )
    window.dragEnterEvent(event)  # what Qt does first: the composer lights up
    assert window.composer.styleSheet()
    window.dropEvent(event)
    assert target is not None and not window.composer.styleSheet()


def _file_mime(*files: Path) -> QMimeData:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(f)) for f in files])
    return mime


def test_drop_paste_and_pick_fill_the_tray(qtbot, make_window, tmp_path, monkeypatch):
    window, _ = make_window(FakeVisionEngine())
    tray = window.composer.tray
    _drop(window, _file_mime(_picture(tmp_path / "a.png"), _picture(tmp_path / "b.jpg")))
    qtbot.waitUntil(lambda: len(tray.images()) == 2)
    assert tray.isVisibleTo(window) and {i.name for i in tray.images()} == {"a.png", "b.jpg"}
    assert tray.images()[0].thumbnail.width() <= 72

    pasted = QMimeData()
    pasted.setImageData(QImage(40, 30, QImage.Format.Format_RGB32))
    window.composer.edit.insertFromMimeData(pasted)  # what Ctrl+V does
    qtbot.waitUntil(lambda: len(tray.images()) == 3)
    assert window.composer.text() == ""  # no text was pasted

    picked = _picture(tmp_path / "c.webp")
    monkeypatch.setattr(
        QFileDialog, "getOpenFileNames", staticmethod(lambda *a, **k: ([str(picked)], ""))
    )
    window.composer.attach_button.click()
    qtbot.waitUntil(lambda: len(tray.images()) == 4)

    window.composer.edit.insertFromMimeData(_file_mime(_picture(tmp_path / "d.png")))
    qtbot.waitUntil(lambda: any("at most 4 images" in w.text for w in window.view.messages()))
    assert len(tray.images()) == 4

    first = tray.images()[0].key
    tray.remove(first)
    assert len(tray.images()) == 3 and first not in [i.key for i in tray.images()]


def test_a_broken_file_is_refused_with_a_message(qtbot, make_window, tmp_path):
    window, _ = make_window(FakeVisionEngine())
    fake = tmp_path / "holiday.png"
    fake.write_text("not a picture at all")
    _drop(window, _file_mime(fake, tmp_path / "gone.png"))
    qtbot.waitUntil(lambda: len([w for w in window.view.messages() if w.role == "notice"]) == 2)
    notes = " ".join(w.text for w in window.view.messages())
    assert "holiday.png" in notes and "gone.png" in notes
    assert window.composer.tray.images() == []


def test_images_go_with_the_message_and_are_saved(qtbot, make_window, tmp_path):
    db = tmp_path / "history.sqlite3"
    engine = FakeVisionEngine(tokens=["A ", "red ", "square."])
    window, _ = make_window(engine, history=db)
    wait_ready(qtbot, window)
    picture = _picture(tmp_path / "red.png")
    window.composer.tray.add_files([picture])
    qtbot.waitUntil(lambda: len(window.composer.tray.images()) == 1)
    window.composer.tray.high_detail.setChecked(True)
    window.composer.edit.setPlainText("What colour is this?")
    with qtbot.waitSignal(window.reply_finished, timeout=10_000):
        window.composer.button.click()
    question = engine.calls[-1][-1]
    [sent_image] = question.images
    assert sent_image != picture and sent_image.read_bytes() == picture.read_bytes()  # the copy
    assert question.content == "What colour is this?"
    assert window.composer.tray.images() == [] and not window.composer.tray.high_detail.isChecked()
    sent = window.view.messages()[0]
    assert len(sent.image_buttons) == 1
    qtbot.waitUntil(lambda: not sent.image_buttons[0].icon().isNull())
    window.close()

    stored = History(db)
    [conversation] = stored.list_conversations()
    [attachment] = stored.messages(conversation.id)[0].attachments
    assert (attachment.kind, attachment.name, attachment.suffix) == ("image", "red.png", ".png")
    stored.close()
    again, engine2 = make_window(FakeVisionEngine(), history=db)
    wait_ready(qtbot, again)
    qtbot.waitUntil(lambda: again.conversations.sidebar.model.rowCount() > 0)
    again.conversations.open(conversation.id)
    qtbot.waitUntil(lambda: len(again.view.messages()) == 2)
    [kept] = again.messages[0].images
    assert kept.read_bytes() == picture.read_bytes() and kept != picture  # the stored copy


def test_a_text_only_model_says_so_and_keeps_message_and_images(qtbot, make_window, tmp_path):
    window, engine = make_window(FakeChatEngine())  # no reads_images: text only
    wait_ready(qtbot, window)
    window.composer.tray.add_files([_picture(tmp_path / "cat.png")])
    qtbot.waitUntil(lambda: len(window.composer.tray.images()) == 1)
    window.composer.edit.setPlainText("Is this a cat?")
    window.composer.button.click()
    assert engine.calls == []
    notice = window.view.messages()[-1]
    assert notice.role == "notice" and "reads text only" in notice.text
    assert window.composer.text() == "Is this a cat?"
    assert len(window.composer.tray.images()) == 1
    assert any(
        b.text() == "Choose a vision model…"
        for b in notice.findChildren(type(window.composer.button))
    )
    QApplication.processEvents()


def test_high_detail_shows_its_estimate_before_sending(qtbot, make_window, tmp_path):
    window, engine = make_window(FakeVisionEngine())
    engine.reads_ahead = False
    wait_ready(qtbot, window)
    tray = window.composer.tray
    tray.add_files([_picture(tmp_path / "a.png")])
    qtbot.waitUntil(lambda: len(tray.images()) == 1)
    assert tray.estimate.text() == "about 1.0 s to read"
    tray.high_detail.setChecked(True)
    assert tray.estimate.text() == "high detail: about 13 s to read (+12 s)"


def test_the_real_vision_engine_answers_about_a_picture_in_the_window(
    qtbot, make_window, tiny_vlm_dir, tmp_path
):
    from desktop_assistant.core.settings import Settings
    from desktop_assistant.ui.workers.chat import engine_factory_for

    settings = Settings(tmp_path / "s.json")
    settings.set("max_new_tokens", 6)
    window, _ = make_window(model_path=str(tiny_vlm_dir), factory=engine_factory_for(settings))
    qtbot.waitUntil(lambda: window.state == "ready", timeout=60_000)
    assert window.intake.reads_images is True
    window.composer.tray.add_files([_picture(tmp_path / "p.png")])
    qtbot.waitUntil(lambda: len(window.composer.tray.images()) == 1)
    # read while the question is typed
    qtbot.waitUntil(lambda: window.composer.tray.estimate.text().startswith("read"), timeout=30_000)
    window.composer.edit.setPlainText("What is this?")
    window.composer.button.click()
    answer = window.view.messages()[-1]
    assert answer.stats_label.text() == "Reading image…"
    with qtbot.waitSignal(window.reply_finished, timeout=60_000) as done:
        pass
    assert done.args[0].stats.image_tokens > 0 and done.args[0].stats.vision_s == 0


def test_a_deleted_original_does_not_break_the_chat(qtbot, make_window, tmp_path):
    """Messages sent since the app started pointed at the user's own file: once it was
    deleted, every later message of the chat failed (issue 18)."""
    db = tmp_path / "history.sqlite3"
    engine = FakeVisionEngine(tokens=["Red."])
    window, _ = make_window(engine, history=db)
    wait_ready(qtbot, window)
    picture = _picture(tmp_path / "red.png")
    window.composer.tray.add_files([picture])
    qtbot.waitUntil(lambda: len(window.composer.tray.images()) == 1)
    window.composer.edit.setPlainText("What colour is this?")
    with qtbot.waitSignal(window.reply_finished, timeout=10_000):
        window.composer.button.click()
    picture.unlink()
    window.composer.edit.setPlainText("And the shade?")
    with qtbot.waitSignal(window.reply_finished, timeout=10_000):
        window.composer.button.click()
    [earlier] = engine.calls[-1][0].images
    assert earlier.exists() and earlier.read_bytes().startswith(b"\x89PNG")
    assert window.view.messages()[-1].text == "Red."


def test_a_deleted_chat_is_purged_with_its_pictures_when_undo_is_over(qtbot, make_window, tmp_path):
    """Issue 18, 9: after the Undo window the conversation, its words in the search index and
    its attached files are gone; until then Undo could bring all of it back."""
    from desktop_assistant.core import paths

    db = tmp_path / "history.sqlite3"
    window, _ = make_window(FakeVisionEngine(tokens=["Lava."]), history=db)
    wait_ready(qtbot, window)
    window.composer.tray.add_files([_picture(tmp_path / "volcano.png")])
    qtbot.waitUntil(lambda: len(window.composer.tray.images()) == 1)
    window.composer.edit.setPlainText("How do volcanoes erupt?")
    with qtbot.waitSignal(window.reply_finished, timeout=10_000):
        window.composer.button.click()
    stored_files = lambda: list(paths.attachments_dir().rglob("*.png"))  # noqa: E731
    qtbot.waitUntil(lambda: len(stored_files()) == 1, timeout=5_000)
    ids = window.conversations.sidebar.model.conversation_ids
    qtbot.waitUntil(lambda: len(ids()) == 1)
    window.conversations.delete(ids()[0])
    qtbot.waitUntil(lambda: ids() == [])
    assert len(stored_files()) == 1  # Undo could still bring it back
    window.conversations._undo_timer.timeout.emit()  # the Undo window ends
    qtbot.waitUntil(lambda: stored_files() == [], timeout=5_000)
    assert not window.conversations.undo_button.isVisibleTo(window)
    window.close()
    stored = History(db)
    assert stored.search("volcanoes") == [] and stored.attachment_hashes() == set()
    stored.close()


def test_pictures_are_read_while_the_question_is_typed(qtbot, make_window, tmp_path):
    engine = FakeVisionEngine()
    window, _ = make_window(engine)
    wait_ready(qtbot, window)
    tray = window.composer.tray
    first = _picture(tmp_path / "a.png")
    tray.add_files([first])
    qtbot.waitUntil(lambda: engine.prepared == [([first], False)])
    qtbot.waitUntil(lambda: tray.estimate.text() == "read: ready for your question")
    second = _picture(tmp_path / "b.png", (0, 0, 255))
    tray.add_files([second])
    qtbot.waitUntil(lambda: len(engine.prepared) == 2)
    assert engine.prepared[1] == ([second], False)  # only the new one is asked for
    tray.high_detail.setChecked(True)  # another detail is another reading
    qtbot.waitUntil(lambda: len(engine.prepared) == 3)
    assert engine.prepared[2] == ([first, second], True)
    qtbot.waitUntil(lambda: tray.estimate.text().startswith("read"))
    bad = _picture(tmp_path / "unreadable.png")
    tray.add_files([bad])
    qtbot.waitUntil(lambda: len(engine.prepared) == 4)
    qtbot.wait(50)
    assert tray.estimate.text().startswith("high detail: about")  # not all read


def test_a_text_only_model_is_not_asked_to_read_pictures(qtbot, make_window, tmp_path):
    window, engine = make_window(FakeChatEngine())
    wait_ready(qtbot, window)
    window.composer.tray.add_files([_picture(tmp_path / "a.png")])
    qtbot.waitUntil(lambda: len(window.composer.tray.images()) == 1)
    qtbot.wait(50)
    assert not hasattr(engine, "prepared") and window.composer.tray.estimate.text() == ""
