"""A real weft serve for the tests: built from this checkout once per run
(or $WEFT_BIN), on a loopback port, over a temporary folder."""

import json
import os
import pathlib
import subprocess
import sys
import tempfile
import threading

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
if not os.environ.get("WEFT_TEST_INSTALLED"):  # else: the copy pip installed
    sys.path.insert(0, str(ROOT / "sdk" / "python"))


@pytest.fixture(scope="session")
def weft_bin(tmp_path_factory):
    if os.environ.get("WEFT_BIN"):
        return os.environ["WEFT_BIN"]
    out = tmp_path_factory.mktemp("bin") / "weft"
    subprocess.run(["go", "build", "-o", str(out), "./cmd/weft"], cwd=ROOT, check=True)
    return str(out)


class Server:
    def __init__(self, weft_bin, *args):
        self.data = tempfile.mkdtemp(prefix="weft-py-")
        self.proc = subprocess.Popen([weft_bin, "serve", "--listen", "127.0.0.1:0", "--data", self.data,
                                      "--log-format", "json", *args], stderr=subprocess.PIPE, text=True)
        self.addr = None
        ready = threading.Event()

        def read():
            for line in self.proc.stderr:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if rec.get("msg") == "weft serve listening":
                    self.addr = "http://" + rec["addr"]
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(30) or self.addr is None:
            self.stop()
            raise RuntimeError("weft serve did not start")

    def stop(self):
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def server(weft_bin):
    s = Server(weft_bin)
    yield s
    s.stop()


@pytest.fixture
def server_with_key(weft_bin):
    s = Server(weft_bin, "--auth.bootstrap-key-file", _key_file())
    yield s
    s.stop()


BOOTSTRAP_KEY = "python-client-test-bootstrap-key"


def _key_file():
    f = tempfile.NamedTemporaryFile("w", delete=False, suffix=".key")
    f.write(BOOTSTRAP_KEY)
    f.close()
    return f.name
