"""What comes into the window from outside: files and pictures dropped anywhere on it, pasted
into the prompt box or picked with a button. Pictures go to the composer's tray, documents
(PDF, DOCX, Markdown, text, HTML, code) to its document chips; audio files are transcribed
into the prompt box (voice issue).

Also says clearly when a picture cannot be used: not an image, too big, too many, or a model
that reads text only (with a button to choose a vision model; nothing is dropped silently).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QImage
from PySide6.QtWidgets import QPushButton, QWidget

from desktop_assistant.core.documents import looks_like_document
from desktop_assistant.ui.composer import Composer, local_files
from desktop_assistant.ui.conversation_view import ConversationView
from desktop_assistant.ui.status_line import StatusLine
from desktop_assistant.ui.workers.chat import ChatThread

TEXT_ONLY = (
    "The model in use ({name}) reads text only, so it cannot see the attached "
    "image{s}. Your message and images are still in the box: choose a vision model "
    "(such as SmolVLM) to ask about them, or remove the images to send the text alone."
)


IMAGE_BRANDS = (b"avif", b"avis", b"heic", b"heix", b"heim", b"heis", b"hevc", b"mif1", b"msf1")


def _is_audio(path: Path) -> bool:
    """Sound, judged from the first bytes (an MP3 named .png is still audio)."""
    from desktop_assistant.audio.files import sniff_format

    try:
        with path.open("rb") as f:
            head = f.read(64)
    except OSError:
        return False
    found = sniff_format(head)
    if found == "WAV":
        return head[8:12] == b"WAVE"  # RIFF is also WebP's container
    if found == "MP4/M4A":
        return head[8:12] not in IMAGE_BRANDS  # HEIC and AVIF are ISO media files too
    return found is not None


class Intake(QObject):
    """Takes what the user gives the window. It is given the parts it works with, never the
    window; the window forwards its drag-and-drop events and sets `transcribe_file` (when
    voice input is set up) and `choose_model`."""

    def __init__(
        self,
        parent: QWidget,
        composer: Composer,
        chat: ChatThread,
        view: ConversationView,
        status: StatusLine,
    ) -> None:
        super().__init__(parent)
        self.composer, self.chat, self.view, self.status = composer, chat, view, status
        self.transcribe_file: Callable[[Path], object] | None = None  # audio files, with voice
        self.choose_model: Callable[[], object] = lambda: None  # open a (vision) model
        self.reads_images: bool | None = None  # None until a model has loaded
        composer.files_given.connect(self.take_files)
        composer.tray.problem.connect(self.tell)
        composer.documents.problem.connect(self.tell)
        composer.tray.changed.connect(self._on_tray_changed)
        composer.tray.high_detail.toggled.connect(self._on_tray_changed)
        worker = chat.worker
        worker.images_supported.connect(self._on_images_supported)
        worker.pictures_prepared.connect(self._on_pictures_prepared)
        worker.loading.connect(lambda name: self._read.clear())
        # pictures the model has read ahead of the question: (path, high detail)
        self._read: set[tuple[Path, bool]] = set()

    def _on_images_supported(self, supported: bool) -> None:
        self.reads_images = supported
        self._on_tray_changed()

    def _on_tray_changed(self) -> None:
        """Pictures in the tray are read by the model while the question is typed, so that
        sending waits only for the prompt (VisionChatEngine.prepare_pictures)."""
        tray = self.composer.tray
        detail = tray.high_detail.isChecked()
        todo = [i.path for i in tray.images() if (i.path, detail) not in self._read]
        if todo and self.reads_images:
            self.chat.prepare_requested.emit(todo, detail)
        self.update_estimate()

    def _on_pictures_prepared(self, paths: list[Path], high_detail: bool) -> None:
        self._read.update((Path(p), high_detail) for p in paths)
        self.update_estimate()

    def update_estimate(self) -> None:
        """Before sending: how much longer high detail takes for the pictures in the tray,
        or that they have been read."""
        tray = self.composer.tray
        images = tray.images()
        sizes = [(i.width, i.height) for i in images]
        worker = self.chat.worker
        standard = worker.estimate_image_seconds(sizes, False)
        high = worker.estimate_image_seconds(sizes, True)
        detail = tray.high_detail.isChecked()
        if images and all((i.path, detail) in self._read for i in images):
            tray.estimate.setText("read: ready for your question")
        elif not sizes or high <= 0:
            tray.estimate.setText("")
        elif tray.high_detail.isChecked():
            tray.estimate.setText(
                f"high detail: about {high:.0f} s to read (+{high - standard:.0f} s)"
            )
        else:
            tray.estimate.setText(f"about {standard:.1f} s to read")

    # ---- drag and drop ---------------------------------------------------------------------

    def drag_enter(self, event: QDragEnterEvent) -> None:
        mime = event.mimeData()
        if local_files(mime) or mime.hasImage():
            event.acceptProposedAction()
            self.composer.set_drop_highlight(True)

    def drag_leave(self) -> None:
        self.composer.set_drop_highlight(False)

    def drop(self, event: QDropEvent) -> None:
        self.composer.set_drop_highlight(False)
        mime = event.mimeData()
        files = local_files(mime)
        if files:
            self.take_files(files)
        elif mime.hasImage() and isinstance(mime.imageData(), QImage):
            self.composer.tray.add_pasted(mime.imageData())
        else:
            return
        event.acceptProposedAction()

    def take_files(self, files: list[Path]) -> None:
        missing = [f for f in files if not f.exists()]
        for path in missing:
            self.tell(f"{path.name} is gone: it was moved or deleted before it could be read.")
        pictures, documents = [], []
        for path in files:
            if not path.exists():
                continue
            if path.is_dir():
                self.composer.documents.add_folder(path)  # a collection, usable in any chat
            elif _is_audio(path):
                if self.transcribe_file is not None:
                    self.transcribe_file(path)
                else:
                    self.tell(f"{path.name} is audio; voice input is not set up here.")
            elif looks_like_document(path):
                documents.append(path)
            else:
                pictures.append(path)
        self.composer.documents.add_files(documents)
        self.composer.tray.add_files(pictures)

    # ---- telling the user ------------------------------------------------------------------

    def tell(self, message: str) -> None:
        """A problem with something the user gave: a note in the conversation and the bar."""
        self.view.add_message("notice", message)
        self.status.flash(message, 8000)

    def model_reads_images(self, quiet: bool = False) -> bool:
        """False (and, unless quiet, say so with a way out) when the model is text-only."""
        if self.reads_images is not False:
            return True
        if not quiet:
            count = len(self.composer.tray.images())
            name = self.status.model_name or "this model"
            notice = self.view.add_message(
                "notice", TEXT_ONLY.format(name=name, s="s" if count != 1 else "")
            )
            button = QPushButton("Choose a vision model…", notice)
            button.clicked.connect(self.choose_model)
            notice.add_below(button)
        return False
