"""The offline guard: nothing leaves the machine unless a download runs (issue 18)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request

import pytest

from desktop_assistant.core import offline


@pytest.fixture
def guard():
    offline.install_guard()
    seen: list[str] = []
    stop = offline.on_blocked(seen.append)
    yield seen
    stop()
    offline.remove_guard()
    offline.forget_hosts()


@pytest.mark.parametrize(
    "address", [("192.0.2.1", 80), ("8.8.8.8", 53), ("2001:db8::1", 443, 0, 0)]
)
def test_connections_off_the_machine_are_refused_and_reported(guard, address):
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        with pytest.raises(offline.NetworkBlocked):
            s.connect(address)
        with pytest.raises(offline.NetworkBlocked):
            s.connect_ex(address)
    assert guard and guard[0].startswith(address[0])


def test_name_lookups_and_libraries_are_refused(guard):
    with pytest.raises(offline.NetworkBlocked):
        socket.getaddrinfo("example.org", 443)
    with pytest.raises(urllib.error.URLError) as caught:
        urllib.request.urlopen("http://example.org/", timeout=2)
    assert isinstance(caught.value.reason, offline.NetworkBlocked)
    assert "example.org" in guard


def test_this_machine_is_reachable(guard, tmp_path):
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    with socket.create_connection(("localhost", port), timeout=5):
        pass
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass
    server.close()
    path = str(tmp_path / "s.sock")
    unix = socket.socket(socket.AF_UNIX)
    unix.bind(path)
    unix.listen()
    with socket.socket(socket.AF_UNIX) as client:
        client.connect(path)
    unix.close()
    assert guard == []


def test_a_download_opens_the_guard_for_its_duration(guard):
    with offline.allow_network():
        assert offline.network_allowed()
        with socket.socket() as s:
            s.settimeout(0.2)
            try:
                s.connect(("192.0.2.1", 9))  # TEST-NET: times out or is unreachable
            except offline.NetworkBlocked:
                pytest.fail("blocked during a download")
            except OSError:
                pass
    assert not offline.network_allowed()
    with socket.socket() as s, pytest.raises(offline.NetworkBlocked):
        s.connect(("192.0.2.1", 9))


def _reaches(address) -> bool:
    """Not refused by the guard (the TEST-NET address itself then times out)."""
    with socket.socket() as s:
        s.settimeout(0.2)
        try:
            s.connect(address)
        except offline.NetworkBlocked:
            return False
        except OSError:
            pass
    return True


def test_a_server_the_user_listed_is_reachable_and_nothing_else(guard):
    """Remote engines (issue 21): a host listed by address, or by name (reachable at the
    addresses that name is found at), and no other."""
    offline.allow_host("192.0.2.1")
    assert _reaches(("192.0.2.1", 8000))
    assert not _reaches(("192.0.2.2", 8000))
    looked_up = []

    def fake_lookup(host, *args, **kwargs):  # what a LAN's DNS would answer
        looked_up.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.0.2.7", 8000))]

    # by hand, not monkeypatch: the guard's teardown must find the real lookup again
    real, offline._original["getaddrinfo"] = offline._original["getaddrinfo"], fake_lookup
    try:
        offline.allow_host("GPU-Box.lan")
        assert socket.getaddrinfo("gpu-box.lan", 8000)[0][4] == ("192.0.2.7", 8000)
        assert _reaches(("192.0.2.7", 8000))
        with pytest.raises(offline.NetworkBlocked):
            socket.getaddrinfo("other-box.lan", 8000)
        assert looked_up == ["gpu-box.lan"]
        assert not _reaches(("192.0.2.9", 8000))
        offline.forget_hosts()
        assert not _reaches(("192.0.2.7", 8000))
    finally:
        offline._original["getaddrinfo"] = real


def test_the_guard_holds_on_other_threads(guard):
    errors: list[BaseException] = []

    def attempt():
        try:
            socket.create_connection(("203.0.113.5", 80), timeout=1)
        except BaseException as err:  # noqa: BLE001 (what it raised is the point)
            errors.append(err)

    thread = threading.Thread(target=attempt)
    thread.start()
    thread.join()
    assert isinstance(errors[0], offline.NetworkBlocked)


@pytest.mark.slow
def test_the_app_is_offline_from_its_first_line():
    """The entry point sets HF_HUB_OFFLINE before huggingface_hub is imported and installs
    the guard, whatever the command."""
    code = (
        "import os, socket, sys\n"
        "from desktop_assistant import cli\n"
        "try:\n"
        "    cli.main(['--version'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "assert os.environ['HF_HUB_OFFLINE'] == '1'\n"
        "assert 'huggingface_hub' not in sys.modules\n"
        "try:\n"
        "    socket.create_connection(('example.org', 80), timeout=2)\n"
        "except ConnectionRefusedError as err:\n"
        "    print('blocked:', err)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env
    )
    assert "blocked: the app is offline: no connection to example.org" in result.stdout, (
        result.stderr
    )
