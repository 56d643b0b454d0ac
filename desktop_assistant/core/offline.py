"""Offline by construction: no connection leaves the machine unless the user started a download.

Setting `HF_HUB_OFFLINE` keeps huggingface_hub and transformers from asking the network, but
only them, and only if it is set before they are imported. So the app sets it first thing
(`go_offline`), and then puts a guard on Python's sockets (`install_guard`): a connection to
anything but this machine (loopback addresses and Unix sockets) and a name lookup of anything
but a local name are refused with `NetworkBlocked` (an `OSError`, which every client library
already handles as "no network"), logged, and reported to whoever listens (`on_blocked`: the
window says so in its status bar). `allow_network()` opens the guard while a download the user
asked for runs, and closes it again afterwards. `allow_host()` lets through the servers the
user listed for a remote engine (issue 21), and only those.

Why by hand: Python has no switch for this; pytest-socket does the same for tests, but it is a
test plugin, and the app needs the guard itself, with the download exception. Qt's own network
classes are not used by the app (only its local sockets, which this allows), and C libraries
that open their own sockets (speech-dispatcher's is local too) are out of its reach.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

log = logging.getLogger(__name__)
LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


class NetworkBlocked(ConnectionRefusedError):
    """A connection the app refused to make: it is offline."""


_lock = threading.Lock()
_allowed = 0  # downloads running now
_installed = False
_listeners: list[Callable[[str], None]] = []
_original: dict[str, Any] = {}
_hosts: set[str] = set()  # servers the user listed by name or address (remote engines)
_addresses: set[str] = set()  # the addresses those names were found at


def go_offline() -> None:
    """Nothing in transformers or huggingface_hub may reach the network (set before either
    is imported: huggingface_hub reads these once)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    # transformers 5 swaps layers for compiled kernels fetched from the hub when the
    # `kernels` package is installed (`use_kernels` defaults to on): code from the network,
    # and for GPUs. The app runs its own CPU kernels; without `kernels` (the bundle) a load
    # even failed with "Kernels are not available".
    os.environ["USE_HUB_KERNELS"] = "NO"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TQDM_DISABLE", "1")  # GGUF conversion's progress bar on stderr


def is_local(host: Any) -> bool:
    """A loopback address or a name for this machine."""
    if not isinstance(host, str):
        return False
    name = host.strip("[]").split("%")[0].lower()
    if not name or name in LOCAL_NAMES:  # "": the wildcard of a local server
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _bare(host: str) -> str:
    return host.strip("[]").split("%")[0].lower()


def allow_host(host: str) -> None:
    """Let connections to `host` (a name or an address the user listed: a remote server)
    through while offline; a name, to the addresses it is looked up at."""
    with _lock:
        _hosts.add(_bare(host))
        _addresses.add(_bare(host))


def forget_hosts() -> None:
    """No listed hosts any more (tests; a changed list of remote servers)."""
    with _lock:
        _hosts.clear()
        _addresses.clear()


def host_allowed(host: Any) -> bool:
    """This machine, or a host the user listed (`allow_host`)."""
    if is_local(host):
        return True
    with _lock:
        return isinstance(host, str) and _bare(host) in _addresses


def network_allowed() -> bool:
    with _lock:
        return _allowed > 0


@contextlib.contextmanager
def allow_network() -> Iterator[None]:
    """While a download the user started runs (process-wide, like HF_HUB_OFFLINE)."""
    global _allowed
    with _lock:
        _allowed += 1
    try:
        yield
    finally:
        with _lock:
            _allowed -= 1


def on_blocked(listener: Callable[[str], None]) -> Callable[[], None]:
    """Call `listener(address)` for each blocked connection (from the thread that tried);
    returns a function that stops it."""
    with _lock:
        _listeners.append(listener)

    def stop() -> None:
        with _lock, contextlib.suppress(ValueError):
            _listeners.remove(listener)

    return stop


def _blocked(what: str) -> NetworkBlocked:
    log.warning("blocked a network connection to %s: the app is offline", what)
    with _lock:
        listeners = list(_listeners)
    for listener in listeners:
        try:
            listener(what)
        except Exception:  # a listener's bug must not change what the caller sees
            log.exception("offline listener failed")
    return NetworkBlocked(f"the app is offline: no connection to {what}")


def _check_address(family: int, address: Any) -> None:
    if family == getattr(socket, "AF_UNIX", None) or network_allowed():
        return
    host = address[0] if isinstance(address, tuple) and address else address
    if not host_allowed(host):
        port = address[1] if isinstance(address, tuple) and len(address) > 1 else ""
        raise _blocked(f"{host}:{port}" if port != "" else str(host))


def _guarded_connect(self: socket.socket, address: Any) -> Any:
    _check_address(self.family, address)
    return _original["connect"](self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> Any:
    _check_address(self.family, address)
    return _original["connect_ex"](self, address)


def _guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    if host is not None and not network_allowed():
        name = host.decode() if isinstance(host, bytes) else str(host)
        with _lock:
            listed = _bare(name) in _hosts
        if listed:  # a server the user listed: remember where it is found
            found = _original["getaddrinfo"](host, *args, **kwargs)
            with _lock:
                _addresses.update(_bare(str(entry[4][0])) for entry in found)
            return found
        if not is_local(name):
            raise _blocked(name)
    return _original["getaddrinfo"](host, *args, **kwargs)


def install_guard() -> None:
    """Refuse connections off this machine from now on (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        _original.update(
            connect=socket.socket.connect,
            connect_ex=socket.socket.connect_ex,
            getaddrinfo=socket.getaddrinfo,
        )
        socket.socket.connect = _guarded_connect  # type: ignore[method-assign,assignment]
        socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign,assignment]
        socket.getaddrinfo = _guarded_getaddrinfo
        _installed = True


def remove_guard() -> None:
    """Undo `install_guard` (tests)."""
    global _installed
    with _lock:
        if not _installed:
            return
        socket.socket.connect = _original["connect"]  # type: ignore[method-assign]
        socket.socket.connect_ex = _original["connect_ex"]  # type: ignore[method-assign]
        socket.getaddrinfo = _original["getaddrinfo"]
        _installed = False
