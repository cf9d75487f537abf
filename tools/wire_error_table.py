"""The wire-resistance model against its oracle: the table of docs/physics.md ("Wire resistance").

    .venv/bin/python tools/wire_error_table.py [--sizes 32 64 128 256 512] [--write]

For square tiles of n x n differential pairs (n rows, 2n physical columns) with
reram's cells (g_min 1.111 uS, g_max 40 uS, weights uniform in [-1, 1], seed 0) and
row voltages uniform in [-0.5, 0.5] V (8 vectors), at wire resistances s times the
per-cell values cited in reram.yaml (NeuroSim V1.4, 22 nm: 1.856 Ohm per row
segment, 5.569 Ohm per column segment; ideal driver and sense), it prints, from
the column currents I+ - I- of the exact nodal solution
(:func:`crossbar.read.wires.nodal_currents`):

- drop: ||I_ideal - I_exact|| / ||I_exact||, how much the wires change the output;
- error: ||I_fast - I_exact|| / ||I_exact|| of the fast model the read uses
  (:func:`crossbar.read.wires.gains`);
- worst: max |I_fast - I_exact| / max |I_exact|, the largest error on the scale of
  the largest output (what an ADC range sees).

``--write`` replaces the table between the markers in docs/physics.md.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from crossbar.atomic import atomic_write_text
from crossbar.read import wires

DOC = Path(__file__).resolve().parent.parent / "docs" / "physics.md"
BEGIN, END = "<!-- wire-error-table: begin -->", "<!-- wire-error-table: end -->"
ROW, COL = 1.856, 5.569  # ohms per cell, reram.yaml's sources
G_MIN, G_MAX, V_READ = 1.111e-6, 40e-6, 0.5
SCALES = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)


def measure(n: int, scale: float, batch: int = 8, seed: int = 0) -> dict[str, float]:
    """drop, error and worst (see the module docstring) of one tile size and wire scale."""
    rng = np.random.default_rng([seed, n])
    weights = rng.uniform(-1.0, 1.0, (n, n))
    g_plus = G_MIN + (G_MAX - G_MIN) * np.maximum(weights, 0.0)
    g_minus = G_MIN + (G_MAX - G_MIN) * np.maximum(-weights, 0.0)
    v = rng.uniform(-V_READ, V_READ, (batch, n))
    w = wires.Wires(row=ROW * scale, col=COL * scale, driver=0.0, sense=0.0)
    t0 = time.perf_counter()
    i_plus, i_minus = wires.nodal_currents(w, g_plus, g_minus, v)
    t1 = time.perf_counter()
    a_plus, a_minus = wires.gains(w, g_plus, g_minus)
    t2 = time.perf_counter()
    exact = i_plus - i_minus
    fast = v @ (g_plus * a_plus - g_minus * a_minus)
    ideal = v @ (g_plus - g_minus)
    norm = np.linalg.norm(exact)
    return {"drop": float(np.linalg.norm(ideal - exact) / norm),
            "error": float(np.linalg.norm(fast - exact) / norm),
            "worst": float(np.abs(fast - exact).max() / np.abs(exact).max()),
            "oracle_s": t1 - t0, "model_s": t2 - t1}


def table(rows: list[tuple[int, float, dict[str, float]]]) -> str:
    out = ["| pairs (rows x pairs) | wire (x cited) | row / column ohms per cell | IR drop | "
           "fast-model error | worst, of full scale | oracle s | model s |",
           "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for n, scale, m in rows:
        out.append(f"| {n} x {n} | {scale:g} | {ROW * scale:.4g} / {COL * scale:.4g} | "
                   f"{m['drop']:.3g} | {m['error']:.2e} | {m['worst']:.2e} | "
                   f"{m['oracle_s']:.2f} | {m['model_s']:.3f} |")
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 64, 128, 256, 512])
    parser.add_argument("--scales", type=float, nargs="+", default=list(SCALES))
    parser.add_argument("--write", action="store_true", help="replace the table in docs/physics.md")
    args = parser.parse_args()
    rows = []
    for n in args.sizes:
        for scale in args.scales:
            rows.append((n, scale, measure(n, scale)))
            print(table(rows[-1:]).splitlines()[-1], flush=True)
    text = table(rows)
    print(text)
    if args.write:
        doc = DOC.read_text(encoding="utf-8")
        head, _, rest = doc.partition(BEGIN)
        _, _, tail = rest.partition(END)
        if not rest:
            raise SystemExit(f"{DOC}: no {BEGIN} marker")
        atomic_write_text(DOC, f"{head}{BEGIN}\n{text}{END}{tail}")


if __name__ == "__main__":
    main()
