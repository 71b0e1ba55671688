"""Shared helpers of the Python binding tests: scratch folders, a real gridwork-server process on
loopback, an observer that records what it was told, and the process's resident memory."""

import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request

import gridwork as g

GRID = "furong-01"  # the demo worker's grid (sync-server --demo)
PASSWORDS = {"worker": "demo-worker", "supervisor": "demo-supervisor", "leader": "demo-leader"}


def scratch_dir(name):
    base = os.environ.get("GRIDWORK_TEST_TMP") or tempfile.gettempdir()
    os.makedirs(base, exist_ok=True)
    return tempfile.mkdtemp(prefix=name + "-", dir=base)


def new_report(title, description="", submit=False, location=None):
    return g.NewReport(
        grid=GRID,
        category=g.ReportCategory.FIRE_HAZARD,
        severity=2,
        title=title,
        description=description,
        location=location,
        submit=submit,
    )


class Recorder(g.ChangeObserver):
    """A ChangeObserver that keeps every call."""

    def __init__(self):
        self.lock = threading.Lock()
        self.calls = []

    def on_change(self, ids, remote):
        with self.lock:
            self.calls.append((list(ids), remote))

    def saw(self, record_id, remote):
        with self.lock:
            return any(record_id in ids and r == remote for ids, r in self.calls)

    def count(self):
        with self.lock:
            return len(self.calls)


def rss_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A gridwork-server process on a free loopback port with the demo organisation. `stop()` and
    `start()` again keep the data dir and the port, like a server restart."""

    def __init__(self):
        self.binary = os.environ.get("GRIDWORK_SERVER")
        if not self.binary or not os.path.isfile(self.binary):
            raise RuntimeError("GRIDWORK_SERVER must name the gridwork-server binary (cargo xtask test-bindings sets it)")
        self.data_dir = scratch_dir("server")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = None
        self.log = open(os.path.join(self.data_dir, "server.log"), "ab")

    def start(self, timeout=30.0):
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--data-dir", os.path.join(self.data_dir, "db"), "--listen", f"127.0.0.1:{self.port}", "--demo"],
            stdout=self.log,
            stderr=self.log,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gridwork-server exited with {self.proc.returncode}; see {self.log.name}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"gridwork-server did not answer /healthz within {timeout} s; see {self.log.name}")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def close(self):
        self.stop()
        self.log.close()
        shutil.rmtree(self.data_dir, ignore_errors=True)
