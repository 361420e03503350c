"""Run the real app (``python app.py``) in a subprocess on a free loopback port: for tests and benchmarks.

    with DemoServer(env={"RECNET_MAX_PIXELS": "3000000"}) as server:
        client = gradio_client.Client(server.url)
        ...
        server.peak_rss_bytes()  # the server's high-water mark (VmHWM), exact on Linux
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class DemoServer:
    """``python app.py`` with GRADIO_SERVER_NAME=127.0.0.1 and a free GRADIO_SERVER_PORT.

    The examples are not precomputed unless ``env`` says so (``RECNET_WARM_EXAMPLES=1``):
    tests and benchmarks should not share the CPU with them.
    """

    def __init__(self, env: dict | None = None, startup_timeout: float = 300.0):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        # a private temp folder: Gradio names cached files by content hash under one shared folder
        # (/tmp/gradio), and a server that stops deletes the files it made, even if another server
        # made the same file; two servers on one machine (parallel test runs) must not share it
        self.tmp = Path(tempfile.mkdtemp(prefix="recnet-demo-server-"))
        self.env = {
            **os.environ,
            "GRADIO_SERVER_NAME": "127.0.0.1",
            "GRADIO_SERVER_PORT": str(self.port),
            "GRADIO_ANALYTICS_ENABLED": "False",
            "RECNET_WARM_EXAMPLES": "0",
            "PYTHONUNBUFFERED": "1",
            "TMPDIR": str(self.tmp),
            "GRADIO_TEMP_DIR": str(self.tmp / "gradio"),
            **(env or {}),
        }
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen | None = None
        self._log = open(self.tmp / "server.log", "w+")  # noqa: SIM115 (closed in stop)
        self._final_log: str | None = None

    def __enter__(self) -> DemoServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        self.process = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=self.env, stdout=self._log,
                                        stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the demo server exited with code {self.process.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url + "config", timeout=5) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"the demo server did not answer within {self.startup_timeout:.0f} s:\n{self.log()}")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._final_log is None:
            self._final_log = self.log()
            self._log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def log(self) -> str:
        """The last 20,000 characters the server printed (kept after ``stop``)."""
        if self._final_log is not None:
            return self._final_log
        self._log.flush()
        return Path(self._log.name).read_text(errors="replace")[-20000:]

    def peak_rss_bytes(self) -> int | None:
        """The server process's peak resident memory so far (Linux VmHWM; psutil's current RSS elsewhere)."""
        if not self.alive():
            return None
        try:
            for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            pass
        try:
            import psutil

            return psutil.Process(self.process.pid).memory_info().rss
        except Exception:
            return None

    def rss_bytes(self) -> int | None:
        if not self.alive():
            return None
        try:
            for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            return None
        return None
