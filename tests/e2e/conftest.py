"""Fixtures for the browser tests: headless Chromium and real Jupyter servers.

Chromium is Debian's (``/usr/bin/chromium``, installed by ``.ci/run``), driven
by Python Playwright through ``executable_path``: no browser is downloaded.
The tests skip, saying why, when Chromium or Playwright is missing; with
``IMGDIFF_REQUIRE_BROWSER`` set (``.ci/run`` sets it) they fail instead.

Each server (JupyterLab, Notebook 7, Voila) is started by a fixture on
127.0.0.1 with a free port and a random token, in its own process group, with
Jupyter's config, data, runtime and settings directories pointed at a
temporary folder (nothing from the user's setup leaks in) and a temporary
copy of notebooks/ as its root; teardown kills the process group. Screenshots
and server logs of each run go to ``tests/e2e/screenshots/<run>/``
(git-ignored).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVER_START_TIMEOUT = 120  # seconds; a hang guard
VIEWPORT = {"width": 1500, "height": 1100}


def chromium_path() -> str | None:
    """Debian's Chromium, or whatever ``chromium`` is on PATH."""
    for candidate in ("/usr/bin/chromium", shutil.which("chromium")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


@pytest.fixture(scope="session")
def shots() -> Path:
    """This run's folder for screenshots, downloads and server logs."""
    folder = SCREENSHOTS / time.strftime("%Y%m%d-%H%M%S")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def browser_context(tmp_path_factory):
    """One headless Chromium (fresh user-data dir) for the session."""
    executable = chromium_path()
    # CI sets IMGDIFF_REQUIRE_BROWSER: there a missing browser fails, not skips.
    missing = pytest.fail if os.environ.get("IMGDIFF_REQUIRE_BROWSER") else pytest.skip
    if executable is None:
        missing("Chromium is not installed (apt-get install chromium; .ci/run does it)")
    try:
        from playwright import sync_api
    except ImportError:
        missing("Python playwright is missing (it comes with the [test] extra)")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=executable,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport=VIEWPORT,
            accept_downloads=True,
        )
        context.set_default_timeout(30_000)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser_context, request, shots):
    """A new tab; on failure a screenshot of it is kept."""
    tab = browser_context.new_page()
    messages: list[str] = []
    tab.on("console", lambda m: messages.append(f"{m.type}: {m.text}"))
    tab.on("pageerror", lambda e: messages.append(f"pageerror: {e}"))
    yield tab
    name = request.node.name.replace("/", "_")
    (shots / f"{name}-console.log").write_text("\n".join(messages))
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        with contextlib.suppress(Exception):  # the page may be gone
            tab.screenshot(path=str(shots / f"{name}-FAILED.png"), full_page=True)
    tab.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    """A running Jupyter server: where it is and how to log in."""

    name: str
    port: int
    token: str
    root: Path
    process: subprocess.Popen
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.base}{path}{sep}token={self.token}"

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def _isolated_env(home: Path) -> dict[str, str]:
    """Jupyter directories in a temporary folder; this venv's kernels and extensions."""
    env = dict(os.environ)
    dirs = {
        "JUPYTER_CONFIG_DIR": "config",
        "JUPYTER_DATA_DIR": "data",
        "JUPYTER_RUNTIME_DIR": "runtime",
        "JUPYTERLAB_SETTINGS_DIR": "lab-settings",
        "JUPYTERLAB_WORKSPACES_DIR": "lab-workspaces",
        "IPYTHONDIR": "ipython",
    }
    for key, sub in dirs.items():
        (home / sub).mkdir(parents=True, exist_ok=True)
        env[key] = str(home / sub)
    env["JUPYTER_PREFER_ENV_PATH"] = "1"
    env.pop("JUPYTER_PATH", None)
    # No news, update checks or announcements popping over the notebook.
    settings = home / "lab-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    return env


def _wait_until_up(server: Server, probe: str) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    last = ""
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(
                f"{server.name} exited with {server.process.returncode}:\n{server.log_tail()}"
            )
        try:
            with urllib.request.urlopen(server.url(probe), timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        time.sleep(0.5)
    pytest.fail(
        f"{server.name} did not answer within {SERVER_START_TIMEOUT} s ({last}):\n"
        f"{server.log_tail()}"
    )


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    pgid = os.getpgid(process.pid)
    os.killpg(pgid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(pgid, signal.SIGKILL)
        process.wait(timeout=10)
    else:
        # Kernels started by the server share its process group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)


def _serve(name: str, args: list[str], probe: str, tmp: Path, shots: Path) -> Iterator[Server]:
    root = tmp / "notebooks"
    shutil.copytree(NOTEBOOKS, root)
    port, token = free_port(), secrets.token_hex(16)
    log = shots / f"{name}-server.log"
    command = [a.format(port=port, token=token, root=root) for a in args]
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", *command],
            cwd=root,
            env=_isolated_env(tmp / "jupyter-home"),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group, killed at teardown
        )
    server = Server(name, port, token, root, process, log)
    try:
        _wait_until_up(server, probe)
        yield server
    finally:
        _stop(process)


_JUPYTER_SERVER_ARGS = [
    "--no-browser",
    "--ServerApp.ip=127.0.0.1",
    "--ServerApp.port={port}",
    "--ServerApp.port_retries=0",
    "--IdentityProvider.token={token}",
    "--ServerApp.root_dir={root}",
    "--ServerApp.terminals_enabled=False",
    *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),
]


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory, shots) -> Iterator[Server]:
    """JupyterLab serving a copy of notebooks/."""
    # No PyPI queries from the extension manager (and no network at all in CI).
    args = ["jupyterlab", *_JUPYTER_SERVER_ARGS, "--LabApp.extension_manager=readonly"]
    yield from _serve("jupyterlab", args, "/api/status", tmp_path_factory.mktemp("lab"), shots)


@pytest.fixture(scope="module")
def notebook7(tmp_path_factory, shots) -> Iterator[Server]:
    """Jupyter Notebook 7 serving a copy of notebooks/."""
    args = ["notebook", *_JUPYTER_SERVER_ARGS]
    yield from _serve("notebook7", args, "/api/status", tmp_path_factory.mktemp("nb7"), shots)


@pytest.fixture(scope="module")
def voila(tmp_path_factory, shots) -> Iterator[Server]:
    """Voila serving notebooks/app.ipynb as a web app."""
    args = [
        "voila",
        "{root}/app.ipynb",
        "--no-browser",
        "--port={port}",
        "--Voila.ip=127.0.0.1",
        "--Voila.port_retries=0",
        "--Voila.token={token}",
    ]
    # "/" runs the notebook; probe a static page instead of starting a kernel.
    yield from _serve(
        "voila", args, "/voila/static/voila.js", tmp_path_factory.mktemp("voila"), shots
    )
