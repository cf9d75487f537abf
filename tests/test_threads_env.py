"""crossbar-sim, imported before torch, shortens the spin of torch's OpenMP workers unless the
user chose a wait policy (crossbar.SPIN_NOTE, docs/performance.md "Two threads")."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = "import crossbar, os, sys; print(os.environ.get('GOMP_SPINCOUNT'), 'torch' in sys.modules)"


def _probe(env: dict[str, str], code: str = PROBE) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    out = subprocess.run([sys.executable, "-c", code], env=clean | env, capture_output=True, text=True,
                         check=True, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return out.stdout.strip()


@pytest.mark.parametrize(("env", "expected"), [
    ({}, "1000 True"),  # the default, set before torch loads libgomp
    ({"GOMP_SPINCOUNT": "5"}, "5 True"),  # the user's own value wins
    ({"OMP_WAIT_POLICY": "ACTIVE"}, "None True"),  # so does a wait policy
])
def test_spin_count_is_set_before_torch_loads_unless_the_user_chose(env, expected):
    assert _probe(env) == expected


def test_torch_imported_first_is_left_alone():
    assert _probe({}, "import torch; " + PROBE) == "None True"
