"""Test-wide setup: traffic only to loopback, no telemetry, isolated caches.

The environment variables are set at import time, before huggingface_hub or datasets are imported by
any test, because both read them once at import.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

_CACHE = tempfile.mkdtemp(prefix="reap-omni-test-cache-")
os.environ.update(
    {
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_UPDATE_DOWNLOAD_COUNTS": "0",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "HF_HOME": os.path.join(_CACHE, "hf"),
        "HF_DATASETS_CACHE": os.path.join(_CACHE, "datasets"),
        "HF_ENDPOINT": "http://127.0.0.1:9",  # a closed loopback port until a fixture hub overrides it
        "DO_NOT_TRACK": "1",
    }
)
for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
    os.environ.pop(var, None)


def _is_loopback(address) -> bool:
    if isinstance(address, tuple) and address:
        host = address[0]
    else:
        return True  # AF_UNIX paths and the like
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


class NonLoopbackConnection(RuntimeError):
    pass


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


def _guarded_connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
        raise NonLoopbackConnection(f"test tried to reach {address!r}; tests may only use 127.0.0.1")
    return _real_connect(self, address)


def _guarded_connect_ex(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
        raise NonLoopbackConnection(f"test tried to reach {address!r}; tests may only use 127.0.0.1")
    return _real_connect_ex(self, address)


def _guarded_getaddrinfo(host, *args, **kwargs):
    if host not in (None, "localhost") and not _is_loopback((host,)):
        raise NonLoopbackConnection(f"test tried to resolve {host!r}; tests may only use 127.0.0.1")
    return _real_getaddrinfo(host, *args, **kwargs)


socket.socket.connect = _guarded_connect
socket.socket.connect_ex = _guarded_connect_ex
socket.getaddrinfo = _guarded_getaddrinfo


@pytest.fixture
def no_network_guard_bypass():
    """Marker fixture documenting that a test relies on the loopback-only guard."""
    return _is_loopback
pytest_plugins = ["reap_omni.fixtures.pytest_plugin", "model_fixtures"]


@pytest.fixture(autouse=True)
def _fresh_host_health():
    """Each test starts with no host marked unreachable: the breaker is per process, and a later fixture
    server may get the port of a host an earlier test found closed."""
    from reap_omni.sources.hosts import forget_unreachable_hosts

    forget_unreachable_hosts()
    yield
    forget_unreachable_hosts()


class Mounts:
    """Real storage faults for tests: small tmpfs disks and read-only mounts (root only), undone afterwards."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.mounted: list[Path] = []

    def run(self, *args: str) -> bool:
        """``mount ARGS``; False without root or when the kernel refuses (the caller skips)."""
        if os.geteuid() != 0:
            return False
        return subprocess.run(["mount", *args], capture_output=True).returncode == 0

    def tmpfs(self, size: str) -> Path:
        """An empty folder on a tmpfs of ``size`` (e.g. ``64k``); skips the test where that cannot be mounted."""
        disk = self.root / f"disk{len(self.mounted)}"
        disk.mkdir()
        if not self.run("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(disk)):
            pytest.skip("needs root to mount a small tmpfs")
        self.mounted.append(disk)
        return disk

    def read_only_view(self, folder: Path) -> Path:
        """A read-only bind mount of ``folder`` (writes through ``folder`` stay possible); skips where impossible."""
        view = self.root / f"{folder.name}-ro"
        view.mkdir()
        bound = self.run("--bind", str(folder), str(view))
        if bound:
            self.mounted.append(view)
        if not (bound and self.run("-o", "remount,bind,ro", str(view))):
            pytest.skip("needs root and bind mounts for a read-only file system")
        return view

    def undo(self) -> None:
        for target in reversed(self.mounted):
            subprocess.run(["umount", str(target)], capture_output=True)
        self.mounted.clear()


@pytest.fixture
def mounts(tmp_path):
    m = Mounts(tmp_path)
    yield m
    m.undo()
