"""Wire resistance of a tile: IR drop along rows and columns (docs/physics.md, "Wire resistance").

The tile as a resistive network: ``rows x cols`` differential pairs, the two cells
of a pair in neighbouring physical columns (G+ of pair j in column 2j, G- in 2j+1),
so a row wire crosses 2 cols cells. Row i is driven at its column-0 end through the
driver resistance, with ``row`` ohms of wire between neighbouring cells; every
physical column ends, after its last row, in a sense amplifier holding a virtual
ground behind the sense (input) resistance, with ``col`` ohms between neighbouring
cells. Each cell is a linear conductance between its row node and its column node.

The network is linear, so the column currents are a linear map of the row voltages,
I_p = sum_i V_i T_ip: wire resistance changes each cell's effective conductance,
whatever the input. Two ways to that map:

- :func:`solve` (any cells) and :func:`nodal_currents` (a tile's pairs), the oracle:
  the nodal equations of the whole network, solved exactly (sparse LU, SciPy) for
  given row voltages. For tests and the error
  table (``tools/wire_error_table.py``); slow on large tiles.
- :func:`gains`, the fast model the read uses: per cell the factor a_ip with
  T_ip ~ G_ip a_ip, from ladder recurrences (O(rows x cols)) derived from the
  nodal equations for one driven row (superposition): the column wire seen from
  each cell with the other cells of the column as shunts to ground (the fraction
  of the cell's current that reaches the amplifier, and the column impedance in
  series with the cell), then the driven row's ladder with those series
  conductances as its loads. Left out: the other rows' nodes are taken as
  grounded (their wires' share of the sneak currents). Its error against the
  oracle is tabulated in docs/physics.md.

Zero resistance everywhere is ideal wiring: :func:`of` answers None and the read is
today's bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Wires:
    """A tile's wiring in ohms: per row segment, per column segment, driver, sense input."""

    row: float
    col: float
    driver: float
    sense: float


def of(profile) -> Wires | None:
    """The profile's wiring, or None for ideal wires (all four resistances zero)."""
    w = Wires(float(profile.row_wire_resistance), float(profile.col_wire_resistance),
              float(profile.driver_resistance), float(profile.sense_resistance))
    return None if w == Wires(0.0, 0.0, 0.0, 0.0) else w


def interleave(g_plus: np.ndarray, g_minus: np.ndarray) -> np.ndarray:
    """The physical cells (rows x 2 cols, S): G+ of pair j in column 2j, G- in 2j + 1."""
    g = np.empty((g_plus.shape[0], 2 * g_plus.shape[1]))
    g[:, 0::2], g[:, 1::2] = g_plus, g_minus
    return g


def _column_ladders(w: Wires, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per cell of ``g`` (rows x physical columns): the fraction of a current injected at its
    column node that reaches the sense amplifier, and the column's impedance seen from that
    node (the cell itself excluded), with every other cell a shunt to ground."""
    n = g.shape[0]
    down = np.empty_like(g)  # impedance from node i towards the amplifier
    up = np.zeros_like(g)  # admittance from node i away from the amplifier
    down[-1] = w.sense
    for i in range(n - 2, -1, -1):
        down[i] = w.col + down[i + 1] / (g[i + 1] * down[i + 1] + 1.0)
    for i in range(1, n):
        y = g[i - 1] + up[i - 1]
        up[i] = y / (1.0 + w.col * y)
    passed = 1.0 / (1.0 + down * g)  # of a current arriving from above, the part that goes on
    after = np.ones_like(g)
    for i in range(n - 2, -1, -1):
        after[i] = after[i + 1] * passed[i + 1]
    reach = after / (1.0 + down * (g + up))
    return reach, down / (1.0 + up * down)


def _row_ladders(w: Wires, load: np.ndarray) -> np.ndarray:
    """Per cell: the voltage at its row node per volt driven (rows x physical columns), each
    row a ladder of ``row``-ohm segments with the conductances ``load`` to ground."""
    cols = load.shape[1]
    z = np.empty_like(load)  # impedance into node p and everything beyond it
    z[:, -1] = 1.0 / load[:, -1]
    for p in range(cols - 2, -1, -1):
        beyond = w.row + z[:, p + 1]
        z[:, p] = beyond / (load[:, p] * beyond + 1.0)
    v = np.empty_like(load)
    v[:, 0] = z[:, 0] / (w.driver + z[:, 0])
    for p in range(1, cols):
        v[:, p] = v[:, p - 1] * z[:, p] / (w.row + z[:, p])
    return v


def gains(w: Wires, g_plus: np.ndarray, g_minus: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The fast model: (a+, a-) (rows x cols, float64), the current each cell delivers to its
    amplifier per unit of G_ij V_i (V_i its row's driven voltage), so that
    I+_j = sum_i V_i G+_ij a+_ij (and I- alike)."""
    g = interleave(np.asarray(g_plus, np.float64), np.asarray(g_minus, np.float64))
    g = np.maximum(g, 1e-30)  # a cell at exactly 0 S loads nothing and carries nothing
    reach, z_col = _column_ladders(w, g)
    a = _row_ladders(w, g / (1.0 + g * z_col)) * reach
    return a[:, 0::2], a[:, 1::2]


def nodal_currents(w: Wires, g_plus: np.ndarray, g_minus: np.ndarray, v: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """The oracle for a tile of pairs: the exact column currents (I+, I-) (batch x cols, A) for row
    voltages ``v`` (batch x rows, V), the pairs' cells interleaved as in :func:`interleave`."""
    i = solve(w, interleave(np.asarray(g_plus, np.float64), np.asarray(g_minus, np.float64)), v)
    return i[:, 0::2], i[:, 1::2]


def solve(w: Wires, g: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The exact currents into the amplifiers (batch x columns, A) of cells ``g`` (rows x columns,
    S) for row voltages ``v`` (batch x rows, V): the network's nodal equations solved by sparse
    LU (SciPy); a zero-ohm branch merges its two nodes."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.sparse.linalg import splu

    g = np.asarray(g, np.float64)
    n, p = g.shape
    v = np.atleast_2d(np.asarray(v, np.float64))
    cells = np.arange(n * p).reshape(n, p)
    row_node, col_node = cells, n * p + cells
    source, sense = 2 * n * p + np.arange(n), 2 * n * p + n + np.arange(p)
    total = 2 * n * p + n + p
    # Wire branches (node a, node b, ohms); the cells join row_node and col_node.
    branches = [(source, row_node[:, 0], w.driver),
                (row_node[:, :-1].ravel(), row_node[:, 1:].ravel(), w.row),
                (col_node[:-1].ravel(), col_node[1:].ravel(), w.col),
                (col_node[-1], sense, w.sense)]
    shorts = [(a, b) for a, b, r in branches if r == 0.0 and a.size]
    comp = np.arange(total)
    if shorts:
        a = np.concatenate([s[0] for s in shorts])
        b = np.concatenate([s[1] for s in shorts])
        _, comp = connected_components(coo_matrix((np.ones(a.size), (a, b)), (total, total)),
                                       directed=False)
    ends = [(row_node.ravel(), col_node.ravel(), g.ravel())]
    ends += [(a, b, np.full(a.size, 1.0 / r)) for a, b, r in branches if r != 0.0]
    a = comp[np.concatenate([e[0] for e in ends])]
    b = comp[np.concatenate([e[1] for e in ends])]
    cond = np.concatenate([e[2] for e in ends])
    keep = a != b
    a, b, cond = a[keep], b[keep], cond[keep]
    m = int(comp.max()) + 1
    lap = coo_matrix((np.concatenate([cond, cond, -cond, -cond]),
                      (np.concatenate([a, b, a, b]), np.concatenate([a, b, b, a]))), (m, m)).tocsr()
    known = np.zeros(m, bool)
    known[comp[source]] = known[comp[sense]] = True
    volts = np.zeros((m, v.shape[0]))
    volts[comp[source]] = v.T
    unknown = np.flatnonzero(~known)
    if unknown.size:
        lap_u = lap[unknown][:, unknown].tocsc()
        rhs = -(lap[unknown][:, np.flatnonzero(known)] @ volts[known])
        lu = splu(lap_u, permc_spec="MMD_AT_PLUS_A", options={"SymmetricMode": True})
        volts[unknown] = lu.solve(np.ascontiguousarray(rhs)).reshape(unknown.size, -1)
    return -(lap @ volts)[comp[sense]].T  # the current from the network into each amplifier
