"""Pictures waiting to be sent: dropped, pasted or picked, checked off the UI thread, shown as
thumbnails with a remove button above the prompt box.

Checking and thumbnailing run in the global QThreadPool (`core.images` does the work: format
from the content, pixel cap before decoding, EXIF orientation). Pasted image data is written
to a file in the cache folder first, by the same worker, so every attachment is a file.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QBuffer, QIODevice, QObject, QRunnable, QSize, Qt, QThreadPool, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QToolButton, QWidget

from desktop_assistant.core import paths
from desktop_assistant.ui.plain import faint, plain_label, tip

log = logging.getLogger(__name__)

THUMB_SIDE = 72  # pixels, thumbnails in the composer and in sent messages
DEFAULT_LIMIT = 4  # images per message when the model names no limit


@dataclass(frozen=True)
class PendingImage:
    key: int  # identifies it in the tray
    path: Path  # the file to send (pasted data is saved to the cache folder first)
    name: str  # what to call it: the file name, or "pasted image"
    width: int
    height: int
    thumbnail: QImage


def thumbnail_qimage(path: Path, side: int = THUMB_SIDE) -> QImage:
    """A small QImage of a checked image file (works on any thread)."""
    from desktop_assistant.core.images import open_image

    image = open_image(path, max_side=side)
    data = image.tobytes("raw", "RGB")
    qimage = QImage(data, image.width, image.height, 3 * image.width, QImage.Format.Format_RGB888)
    return qimage.copy()  # own the pixels: `data` goes away


def _save_pasted(image: QImage) -> Path:
    """Write pasted pixels to a PNG in the cache folder, named by content."""
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")  # type: ignore[call-overload]  # the stub says bytes: wrong
    data = bytes(buffer.data().data())
    folder = paths.cache_dir() / "pasted"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{hashlib.sha256(data).hexdigest()[:32]}.png"
    if not target.exists():
        with tempfile.NamedTemporaryFile(dir=folder, delete=False, suffix=".tmp") as tmp:
            tmp.write(data)
        Path(tmp.name).replace(target)
    return target


class _CheckImage(QRunnable):
    """Check one image and make its thumbnail, on a pool thread."""

    class Signals(QObject):
        """Signals: done(key, PendingImage), failed(key, message)."""

        done = Signal(int, object)
        failed = Signal(int, str)

    def __init__(self, key: int, source: Path | QImage, name: str) -> None:
        super().__init__()
        self.key, self.source, self.name = key, source, name
        self.signals = _CheckImage.Signals()

    def run(self) -> None:
        from desktop_assistant.core.errors import UserError
        from desktop_assistant.core.images import check_image

        try:
            path = _save_pasted(self.source) if isinstance(self.source, QImage) else self.source
            checked = check_image(path)
            thumb = thumbnail_qimage(path)
        except UserError as err:
            self.signals.failed.emit(self.key, str(err))
            return
        except Exception as err:  # never let a bad file take the app down
            log.exception("checking image %s failed", self.name)
            self.signals.failed.emit(self.key, f"could not read {self.name}: {err}")
            return
        self.signals.done.emit(
            self.key,
            PendingImage(self.key, path, self.name, checked.width, checked.height, thumb),
        )


class _Thumbnail(QRunnable):
    """Make one thumbnail on a pool thread. Signals: done(QImage), failed()."""

    class Signals(QObject):
        done = Signal(QImage)
        failed = Signal()

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.signals = _Thumbnail.Signals()
        self.setAutoDelete(False)  # Python keeps it (in _thumbnails) until it reports

    def run(self) -> None:
        try:
            image = thumbnail_qimage(self.path)
        except Exception as err:  # a file deleted since: the button keeps its text
            log.warning("no thumbnail for %s: %s", self.path, err)
            self.signals.failed.emit()
            return
        self.signals.done.emit(image)


_thumbnails: set[_Thumbnail] = set()  # running thumbnail jobs, kept alive until they report


def load_thumbnail(path: Path, button: QToolButton) -> None:
    """Give a button its picture once a pool thread has made it."""
    job = _Thumbnail(path)
    _thumbnails.add(job)

    def done(image: QImage) -> None:
        _thumbnails.discard(job)
        with contextlib.suppress(RuntimeError):  # the button was deleted meanwhile
            button.setIcon(QIcon(QPixmap.fromImage(image)))

    job.signals.done.connect(done, Qt.ConnectionType.QueuedConnection)
    job.signals.failed.connect(lambda: _thumbnails.discard(job))
    button.setText(path.name[:12])
    button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
    QThreadPool.globalInstance().start(job)


class ImageTray(QWidget):
    """Thumbnails of the images that go with the next message.

    Signals: changed() when an image was added or removed; problem(message) when one was
    refused (not an image, too big, over the limit).
    """

    changed = Signal()
    problem = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.limit = DEFAULT_LIMIT
        self._next_key = 0
        self._checking: dict[int, _CheckImage] = {}  # kept alive until they report
        self._dropped: set[int] = set()  # still checking, but the user cleared the tray
        self._images: dict[int, PendingImage] = {}
        self._buttons: dict[int, QWidget] = {}
        self._row = QHBoxLayout(self)
        self._row.setContentsMargins(0, 0, 0, 4)
        self.high_detail = QCheckBox("High detail")
        self.high_detail.setToolTip(
            "Read big images in several tiles: finer detail, but slower on this computer"
        )
        self.estimate = plain_label(QLabel())
        faint(self.estimate)
        self._row.addStretch(1)
        self._row.addWidget(self.estimate)
        self._row.addWidget(self.high_detail)
        self.setVisible(False)

    # ---- adding ------------------------------------------------------------------------------

    def add_files(self, files: list[Path]) -> None:
        for path in files:
            self._check(path, path.name)

    def add_pasted(self, image: QImage) -> None:
        self._check(image, "pasted image")

    def _check(self, source: Path | QImage, name: str) -> None:
        if len(self._images) + len(self._checking) - len(self._dropped) >= self.limit:
            self.problem.emit(
                f"{name} was not added: this model reads at most {self.limit} "
                f"image{'s' if self.limit != 1 else ''} per message."
            )
            return
        self._next_key += 1
        job = _CheckImage(self._next_key, source, name)
        job.setAutoDelete(False)
        job.signals.done.connect(self._on_checked)
        job.signals.failed.connect(self._on_failed)
        self._checking[self._next_key] = job
        self.setVisible(True)
        QThreadPool.globalInstance().start(job)

    def _on_checked(self, key: int, image: PendingImage) -> None:
        self._checking.pop(key, None)
        if key in self._dropped:
            self._dropped.discard(key)
            return
        self._images[key] = image
        self._buttons[key] = self._thumbnail_button(image)
        self._row.insertWidget(len(self._buttons) - 1, self._buttons[key])
        self.changed.emit()

    def _on_failed(self, key: int, message: str) -> None:
        self._checking.pop(key, None)
        if key in self._dropped:
            self._dropped.discard(key)
            return
        self.setVisible(bool(self._images or self.busy))
        self.problem.emit(message)

    def _thumbnail_button(self, image: PendingImage) -> QWidget:
        box = QWidget(self)
        layout = QHBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        picture = QToolButton(box)
        picture.setIcon(QIcon(QPixmap.fromImage(image.thumbnail)))
        picture.setIconSize(QSize(THUMB_SIDE, THUMB_SIDE))
        picture.setToolTip(tip(f"{image.name} · {image.width}×{image.height}"))
        picture.setAutoRaise(True)
        remove = QToolButton(box)
        remove.setText("×")
        remove.setToolTip(tip(f"Remove {image.name}"))
        remove.setAccessibleName(f"Remove {image.name}")
        remove.setCursor(Qt.CursorShape.PointingHandCursor)
        remove.clicked.connect(lambda _=False, k=image.key: self.remove(k))
        layout.addWidget(picture)
        layout.addWidget(remove, 0, Qt.AlignmentFlag.AlignTop)
        return box

    # ---- removing and reading ----------------------------------------------------------------

    def remove(self, key: int) -> None:
        self._images.pop(key, None)
        button = self._buttons.pop(key, None)
        if button is not None:
            self._row.removeWidget(button)
            button.deleteLater()
        self.setVisible(bool(self._images or self.busy))
        self.changed.emit()

    def clear(self) -> None:
        self._dropped |= set(self._checking)
        for key in list(self._images):
            self.remove(key)
        self.high_detail.setChecked(False)

    def images(self) -> list[PendingImage]:
        return list(self._images.values())

    @property
    def busy(self) -> bool:
        """Images are still being checked."""
        return len(self._checking) > len(self._dropped)
