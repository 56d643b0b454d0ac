"""One app per data folder: a second start brings the running window to the front and exits.

Two apps on the same history would each think the other's live answer was cut off (the second
marks it "interrupted" at start), and both would write settings. So before anything opens the
history, the app takes a lock file in the data folder (`QLockFile`: a lock left by a process
that died is taken over, so a crash never blocks the next start), and the holder listens on a
local socket (`QLocalServer`) named after the folder. A start that finds the lock held connects
to that socket, says "activate" and exits; the running window raises itself.

The lock decides, not the socket: two starts at the same moment cannot both listen (a socket
name is removed and re-made only by the lock's holder). qutebrowser does the same with
QLocalServer (its `ipc.py`), Anki with a QLocalServer named after the profile folder.
"""

from __future__ import annotations

import getpass
import hashlib
import logging
import time
from pathlib import Path

from PySide6.QtCore import QLockFile, QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

log = logging.getLogger(__name__)
LOCK_NAME = "instance.lock"
ACTIVATE = b"activate\n"
CONNECT_MS = 500  # how long to wait for the running app's socket, per try
TRIES = 6  # the running app may be between taking the lock and listening
RETRY_S = 0.25


def socket_name(data_dir: Path) -> str:
    """The local socket's name: per user and per data folder, short enough for a Unix socket
    path (/tmp/<name>)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "user"
    digest = hashlib.sha256(f"{user}\0{data_dir.resolve()}".encode()).hexdigest()[:16]
    return f"desktop-assistant-{digest}"


class SingleInstance(QObject):
    """`claim()` once at start: True when this process is the app for `data_dir` (it then
    emits `activate_requested` when another start asks for the window), False when another
    process is, which has been told to come to the front."""

    activate_requested = Signal()

    def __init__(self, data_dir: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.data_dir = Path(data_dir)
        self.name = socket_name(self.data_dir)
        self._lock: QLockFile | None = None
        self._server: QLocalServer | None = None

    def claim(self) -> bool:
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:  # no lock possible: run alone rather than not at all
            log.warning("no single-instance lock in %s (%s)", self.data_dir, err)
            return True
        lock = QLockFile(str(self.data_dir / LOCK_NAME))
        lock.setStaleLockTime(0)  # stale only when its process is gone, however long it ran
        if lock.tryLock(0):
            self._lock = lock
            self._listen()
            return True
        if lock.error() != QLockFile.LockError.LockFailedError:
            log.warning("no single-instance lock in %s (%s)", self.data_dir, lock.error())
            return True
        if not self._tell_running():
            log.warning("another app holds %s but does not answer", self.data_dir / LOCK_NAME)
        return False

    def release(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._lock is not None:
            self._lock.unlock()
            self._lock = None

    def _listen(self) -> None:
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        QLocalServer.removeServer(self.name)  # left by a crash; only the lock holder does this
        if not server.listen(self.name):
            log.warning("a second start cannot reach this one: %s", server.errorString())
            return
        server.newConnection.connect(self._on_connection)
        self._server = server

    def _on_connection(self) -> None:
        """A second start connected: it writes its few bytes at once, so they are read here
        (waiting at most `CONNECT_MS` for a client that connected and said nothing)."""
        assert self._server is not None
        while (socket := self._server.nextPendingConnection()) is not None:
            arrived = socket.bytesAvailable() or socket.waitForReadyRead(CONNECT_MS)
            if arrived and ACTIVATE.strip() in bytes(socket.readAll().data()):
                log.info("another start asked for the window")
                self.activate_requested.emit()
            socket.disconnectFromServer()
            socket.deleteLater()

    def _tell_running(self) -> bool:
        for attempt in range(TRIES):
            if attempt:
                time.sleep(RETRY_S)
            socket = QLocalSocket()
            socket.connectToServer(self.name)
            if socket.waitForConnected(CONNECT_MS):
                socket.write(ACTIVATE)
                sent = socket.waitForBytesWritten(CONNECT_MS)
                socket.disconnectFromServer()
                return sent
        return False
