"""The storage thread: the one writer of the history database, driven by queued signals.

Every write is committed when it arrives. A streaming answer is identified by the window's
request id (`token`): its row is created at the first text and updated by later flushes, in
order, because one thread handles them all.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QMetaObject, QObject, Qt, Signal, Slot

from desktop_assistant.core.conversation import MessageState
from desktop_assistant.storage.attachments import AttachmentStore
from desktop_assistant.storage.documents import UNUSED_KEPT_S, DocumentStore
from desktop_assistant.storage.history import History, StoredAttachment
from desktop_assistant.ui.workers import WorkerThread

log = logging.getLogger(__name__)


class HistoryWorker(QObject):
    """Signals: opened(notice), failed(message), conversations(list of summaries),
    conversation_loaded(id, Conversation, messages), user_message_saved(token, conversation_id,
    message_id, paths of the stored copies of its pictures), answer_saved(token, message_id)
    when a streamed answer has its row,
    message_changed(StoredMessage) when another version of an answer was chosen,
    search_results(query, hits), exported(path), imported(conversation_id),
    documents_listed(conversation_id, stored documents, collections) after conversation_loaded,
    passage_found(passage id, Hit or None), collections_listed(every collection)."""

    opened = Signal(str)
    failed = Signal(str)
    conversations = Signal(object)
    conversation_loaded = Signal(int, object, object)
    user_message_saved = Signal(int, int, int, object)
    answer_saved = Signal(int, int)
    message_changed = Signal(object)
    search_results = Signal(str, object)
    exported = Signal(str)
    imported = Signal(int)
    documents_listed = Signal(int, object, object)
    passage_found = Signal(int, object)
    collections_listed = Signal(object)

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.history: History | None = None
        self.store = AttachmentStore()
        self._streams: dict[int, int] = {}  # request id -> message row id

    def _run(self, what: str, action: Any, expected: tuple[type[Exception], ...] = ()) -> Any:
        """Run one database action; report a failure instead of raising into Qt. `expected`:
        failures caused by what the user gave (a file that is not an export), which are
        reported to them and logged in a line, without the traceback a bug gets."""
        if self.history is None:
            return None
        try:
            return action(self.history)
        except expected as err:
            log.info("history: could not %s: %s", what, err)
            self.failed.emit(f"Could not {what}: {err}")
            return None
        except Exception as err:
            log.exception("history: %s failed", what)
            self.failed.emit(f"Could not {what}: {err}")
            return None

    @Slot()
    def open(self) -> None:
        try:
            self.history = History(self.path)
        except Exception as err:  # DatabaseTooNew, or a folder we cannot write
            log.exception("history unavailable")
            self.failed.emit(f"Conversations will not be saved: {err}")
            return
        notice = ""
        if self.history.moved_aside is not None:
            notice = (
                "The conversation history file was damaged; it was moved to "
                f"{self.history.moved_aside} and a new one was started."
            )
        interrupted = self.history.mark_interrupted()
        self.purge_deleted(0)  # deleted before the last exit: their Undo is gone with it
        self._run(  # read for a chat never sent, or by `ask --file`, a day ago or more
            "tidy the documents",
            lambda h: DocumentStore(h.db).forget_unused(older_than_s=UNUSED_KEPT_S),
        )
        self._run(  # files of deleted messages (an hour's grace for ones being attached)
            "tidy the attachments",
            lambda h: self.store.remove_unreferenced(h.attachment_hashes()),
        )
        if interrupted:
            log.info("%d answers were cut off by the last exit", interrupted)
        self.opened.emit(notice)
        self.list_conversations()

    @Slot()
    def list_conversations(self) -> None:
        result = self._run("list conversations", lambda h: h.list_conversations())
        if result is not None:
            self.conversations.emit(result)

    @Slot(int)
    def load_conversation(self, conversation_id: int) -> None:
        def load(h: History) -> None:
            info = h.conversation(conversation_id)
            if info is not None:
                self.conversation_loaded.emit(conversation_id, info, h.messages(conversation_id))
                store = DocumentStore(h.db)
                self.documents_listed.emit(
                    conversation_id,
                    store.of_conversation(conversation_id),
                    store.collections_of(conversation_id),
                )

        self._run("open the conversation", load)

    @Slot(int, object)
    def attach_documents(self, conversation_id: int, document_ids: Any) -> None:
        """The conversation's questions are answered from these documents from now on."""

        def attach(h: History) -> None:
            store = DocumentStore(h.db)
            for document_id in document_ids:
                store.attach(conversation_id, document_id)

        if conversation_id:
            self._run("keep the documents with the conversation", attach)

    @Slot(int, int)
    def detach_document(self, conversation_id: int, document_id: int) -> None:
        """The user took a document out of the conversation; it is forgotten when nothing
        else uses it."""

        def detach(h: History) -> None:
            store = DocumentStore(h.db)
            store.detach(conversation_id, document_id)
            store.forget_unused(among=[document_id])

        self._run("remove the document", detach)

    @Slot(int, int, bool)
    def use_collection(self, conversation_id: int, collection_id: int, used: bool) -> None:
        if conversation_id:
            self._run(
                "change the chat's collections",
                lambda h: DocumentStore(h.db).use_collection(conversation_id, collection_id, used),
            )

    @Slot()
    def list_collections(self) -> None:
        found = self._run("list the collections", lambda h: DocumentStore(h.db).collections())
        if found is not None:
            self.collections_listed.emit(found)

    @Slot(int)
    def delete_collection(self, collection_id: int) -> None:
        self._run(
            "delete the collection", lambda h: DocumentStore(h.db).delete_collection(collection_id)
        )
        self.list_collections()

    @Slot(int)
    def find_passage(self, passage_id: int) -> None:
        found = self._run("find the passage", lambda h: DocumentStore(h.db).passage(passage_id))
        self.passage_found.emit(passage_id, found)

    @Slot(int, int, str, str, object)
    def save_user_message(
        self, token: int, conversation_id: int, text: str, system_prompt: str, attachments: Any
    ) -> None:
        """Commit the user's message (creating the conversation if it is new)."""

        def save(h: History) -> bool:
            stored = [self._store_file(Path(path), name) for path, name in attachments or ()]
            cid = conversation_id or h.create_conversation(system_prompt=system_prompt)
            mid = h.add_message(cid, "user", text, attachments=stored)
            copies = [self.store.path_for(a.sha256, a.suffix) for a in stored]
            self.user_message_saved.emit(token, cid, mid, copies)
            self.list_conversations()
            return True

        if not self._run("save your message", save):  # answer it anyway; it stays on screen
            self.user_message_saved.emit(token, conversation_id, 0, [])

    def _store_file(self, path: Path, name: str) -> StoredAttachment:
        """Copy an attached picture into the store (named by content)."""
        suffix = path.suffix.lower()
        if not (1 < len(suffix) <= 11 and suffix[1:].isalnum() and suffix.isascii()):
            suffix = ""
        stored = self.store.put(path, suffix)
        return StoredAttachment("image", stored.sha256, name, stored.suffix)

    @Slot(int, int, str)
    def edit_message(self, token: int, message_id: int, text: str) -> None:
        """An edited question: new text, and what followed it is deleted (it is re-asked)."""

        def edit(h: History) -> bool:
            h.update_message(message_id, text)
            h.delete_after(message_id)
            stored = h.message(message_id)
            cid = stored.conversation_id if stored else 0
            self.user_message_saved.emit(token, cid, message_id, [])
            return True

        if not self._run("save the edited message", edit):
            self.user_message_saved.emit(token, 0, message_id, [])

    @Slot(int, int, bool)
    def resume_answer(self, token: int, message_id: int, new_version: bool) -> None:
        """Stream into an existing answer: a new version of it (regenerate) or more of it
        (continue)."""

        def resume(h: History) -> None:
            if new_version:
                h.new_version(message_id)
            else:
                stored = h.message(message_id)
                text = stored.content if stored is not None else ""
                h.update_message(message_id, text, state=MessageState.STREAMING)
            self._streams[token] = message_id

        self._run("save the answer", resume)

    @Slot(int, int)
    def select_version(self, message_id: int, number: int) -> None:
        stored = self._run("show that version", lambda h: h.select_version(message_id, number))
        if stored is not None:
            self.message_changed.emit(stored)

    @Slot(int, str)
    def set_system_prompt(self, conversation_id: int, text: str) -> None:
        self._run("save the system prompt", lambda h: h.set_system_prompt(conversation_id, text))

    @Slot(int, int, str, str)
    def stream_update(self, token: int, conversation_id: int, text: str, model: str) -> None:
        def update(h: History) -> None:
            mid = self._streams.get(token)
            if mid is None:
                mid = self._streams[token] = h.add_message(
                    conversation_id, "assistant", text, state=MessageState.STREAMING, model=model
                )
                self.answer_saved.emit(token, mid)
            else:
                h.update_message(mid, text)

        self._run("save the answer", update)

    @Slot(int, int, str, str, str, object)
    def stream_finished(
        self, token: int, conversation_id: int, text: str, state: str, model: str, stats: Any
    ) -> None:
        def finish(h: History) -> None:
            mid = self._streams.pop(token, None)
            if mid is None:
                if not text:
                    return
                mid = h.add_message(conversation_id, "assistant", text, state=state, model=model)
                self.answer_saved.emit(token, mid)
            h.update_message(mid, text, state=state, stats=stats)
            if state == MessageState.COMPLETE and h.title_after_first_answer(conversation_id):
                self.list_conversations()

        self._run("save the answer", finish)

    @Slot(int, str)
    def rename(self, conversation_id: int, title: str) -> None:
        self._run("rename the conversation", lambda h: h.rename(conversation_id, title))
        self.list_conversations()

    @Slot(int)
    def delete_conversation(self, conversation_id: int) -> None:
        self._run("delete the conversation", lambda h: h.delete_conversation(conversation_id))
        self.list_conversations()

    @Slot(int)
    def undo_delete(self, conversation_id: int) -> None:
        self._run("restore the conversation", lambda h: h.undo_delete(conversation_id))
        self.list_conversations()

    @Slot(int)
    def purge_deleted(self, conversation_id: int) -> None:
        """A deleted conversation (0: every deleted one) whose Undo is over: gone for good,
        with the attached files no other message uses."""

        def purge(h: History) -> None:
            unused = h.purge_deleted(conversation_id or None)
            self.store.remove(unused)

        self._run("remove the deleted conversation", purge)

    @Slot(int)
    def delete_message(self, message_id: int) -> None:
        self._run("delete the message", lambda h: h.delete_message(message_id))

    @Slot(str)
    def search(self, text: str) -> None:
        hits = self._run("search", lambda h: h.search(text))
        if hits is not None:
            self.search_results.emit(text, hits)

    @Slot(int, str)
    def export(self, conversation_id: int, path: str) -> None:
        def write(h: History) -> None:
            target = Path(path)
            from desktop_assistant.storage import transfer

            if target.suffix.lower() == ".json":
                data = transfer.export_json(h, conversation_id, self.store)
                text = json.dumps(data, indent=2, ensure_ascii=False)
            else:
                text = transfer.export_markdown(h, conversation_id)
            target.write_text(text, encoding="utf-8")
            self.exported.emit(str(target))

        self._run("export the conversation", write)

    @Slot(str)
    def import_file(self, path: str) -> None:
        def read(h: History) -> None:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            from desktop_assistant.storage import transfer

            cid = transfer.import_json(h, data, self.store)
            self.imported.emit(cid)
            self.list_conversations()

        # not JSON, not text, not an export, a damaged attachment, an unreadable file
        self._run("import the conversation", read, (ValueError, OSError))

    @Slot()
    def close(self) -> None:
        if self.history is not None:
            self.purge_deleted(0)  # an Undo still offered ends with the app
            self.history.close()
            self.history = None


class HistoryThread(WorkerThread):
    """The storage thread and its worker. Signals mirror the worker's slots (queued)."""

    open_requested = Signal()
    list_requested = Signal()
    load_requested = Signal(int)
    save_user_message = Signal(int, int, str, str, object)
    edit_message = Signal(int, int, str)
    resume_answer = Signal(int, int, bool)
    select_version = Signal(int, int)
    set_system_prompt = Signal(int, str)
    stream_update = Signal(int, int, str, str)
    stream_finished = Signal(int, int, str, str, str, object)
    rename_requested = Signal(int, str)
    delete_requested = Signal(int)
    undo_delete_requested = Signal(int)
    purge_requested = Signal(int)
    delete_message_requested = Signal(int)
    search_requested = Signal(str)
    export_requested = Signal(int, str)
    import_requested = Signal(str)
    attach_documents = Signal(int, object)
    detach_document = Signal(int, int)
    passage_requested = Signal(int)
    use_collection = Signal(int, int, bool)
    collections_requested = Signal()
    delete_collection = Signal(int)

    worker: HistoryWorker

    def __init__(self, path: Path, parent: QObject | None = None) -> None:
        super().__init__("history", HistoryWorker(path), parent)
        w = self.worker
        self.start(
            [
                (self.open_requested, w.open),
                (self.list_requested, w.list_conversations),
                (self.load_requested, w.load_conversation),
                (self.save_user_message, w.save_user_message),
                (self.edit_message, w.edit_message),
                (self.resume_answer, w.resume_answer),
                (self.select_version, w.select_version),
                (self.set_system_prompt, w.set_system_prompt),
                (self.stream_update, w.stream_update),
                (self.stream_finished, w.stream_finished),
                (self.rename_requested, w.rename),
                (self.delete_requested, w.delete_conversation),
                (self.undo_delete_requested, w.undo_delete),
                (self.purge_requested, w.purge_deleted),
                (self.delete_message_requested, w.delete_message),
                (self.search_requested, w.search),
                (self.export_requested, w.export),
                (self.import_requested, w.import_file),
                (self.attach_documents, w.attach_documents),
                (self.detach_document, w.detach_document),
                (self.passage_requested, w.find_passage),
                (self.use_collection, w.use_collection),
                (self.collections_requested, w.list_collections),
                (self.delete_collection, w.delete_collection),
            ]
        )

    def open(self) -> None:
        """Open the database; call once the window listens to the worker's signals."""
        self.open_requested.emit()

    def before_quit(self) -> None:
        """Finish every queued write and close the database.

        `quit()` alone would drop the writes still queued (an event loop that exits does not
        drain its queue), so the close is a blocking call queued behind them.
        """
        if self.qthread.isRunning():
            QMetaObject.invokeMethod(
                self.worker, "close", Qt.ConnectionType.BlockingQueuedConnection
            )
