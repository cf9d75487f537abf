"""Shared fixtures: a user's own network and data modules in a folder of their own."""

from __future__ import annotations

import sys
import textwrap

import pytest

USERNETS = '''
import torch
from torch import nn


class Net(nn.Module):
    """Not an nn.Sequential: conv -> batch norm -> ReLU, two fully connected layers."""

    def __init__(self, hidden=16, classes=10):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 5, stride=2)  # 28 -> 12
        self.bn = nn.BatchNorm2d(4)
        self.fc1 = nn.Linear(4 * 12 * 12, hidden)
        self.fc2 = nn.Linear(hidden, classes)

    def forward(self, x):
        x = torch.relu(self.bn(self.conv(x)))
        return self.fc2(torch.relu(self.fc1(x.flatten(1))))


def seeded(seed, hidden=8):
    gen = torch.Generator().manual_seed(seed)
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, hidden), nn.ReLU(), nn.Linear(hidden, 10))
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0.0, 0.05, generator=gen)
    net.seen_seed = seed
    return net


def global_draw():
    layer = nn.Linear(784, 10)
    with torch.no_grad():
        layer.weight.copy_(torch.randn_like(layer.weight))  # torch's global generator
    return nn.Sequential(nn.Flatten(), layer)


def with_dropout():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 16), nn.Dropout(0.5), nn.Linear(16, 10))


def not_a_module():
    return 3
'''

USERDATA = '''
import numpy as np


def load(root=None):
    rng = np.random.default_rng(0)
    y = np.arange(120) % 3
    x = rng.normal(size=(120, 6)).astype(np.float32) + y[:, None]
    return x[:90], y[:90], x[90:], y[90:]


def broken():
    raise RuntimeError("no such table")
'''


@pytest.fixture(scope="module")
def user_dir(tmp_path_factory):
    """A folder with the user's own modules, on sys.path while the tests of this module run."""
    folder = tmp_path_factory.mktemp("usercode")
    (folder / "usernets.py").write_text(textwrap.dedent(USERNETS))
    (folder / "userdata.py").write_text(textwrap.dedent(USERDATA))
    sys.path.insert(0, str(folder))
    yield folder
    sys.path.remove(str(folder))
    for name in ("usernets", "userdata"):
        sys.modules.pop(name, None)


def sweep_records(out) -> dict:
    """A sweep folder's finished cells by (sigma_train, sigma_val), without the fields that
    differ between equal runs (wall time, record digest): what resume tests compare."""
    import json
    from pathlib import Path

    recs = {}
    for line in (Path(out) / "results.jsonl").read_text().splitlines():
        r = json.loads(line)
        r.pop("elapsed_s")
        r.pop("digest")
        recs[(r["sigma_train"], r["sigma_val"])] = r
    return recs


def kill_when(script: str, ready, delay: float, limit_s: float, what: str, env=None) -> None:
    """Run ``script`` in a child process and SIGKILL it ``delay`` seconds after ``ready()`` holds
    (within ``limit_s``): the interruption that resume tests repeat."""
    import os
    import signal
    import subprocess
    import time

    proc = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + limit_s
    try:
        while not ready():
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, f"no {what} within {limit_s:g} s"
            time.sleep(0.02)
        time.sleep(delay)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, f"the run ended before the kill at {what}"


def kill_sweep_after(script: str, out, after: int, delay: float, limit_s: float, env=None) -> None:
    """:func:`kill_when` a sweep writing to ``out`` has ``after`` cells in results.jsonl."""
    from pathlib import Path

    results = Path(out) / "results.jsonl"
    kill_when(script, lambda: results.exists() and results.read_text().count("\n") >= after, delay,
              limit_s, f"{after} finished cells", env)
