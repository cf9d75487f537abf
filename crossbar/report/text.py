"""Number formatting shared by the budget and demo reports."""

from __future__ import annotations

import math

__all__ = ["drop_text", "mm2", "pct", "scale_text", "share_text"]


def pct(v: float | None, digits: int = 1) -> str:
    """A fraction as a percentage ("n/a" for None or NaN)."""
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.{digits}f} %"


def scale_text(th) -> str:
    """A tolerable noise scale: "none", "2.5×" or "≥ 128×" (a lower bound)."""
    if th.status == "none":
        return "none"
    text = f"{th.scale:.3g}×"
    return f"≥ {text}" if th.status == "all" else text


def mm2(v: float) -> str:
    """An area in m² as mm²."""
    return f"{v * 1e6:.4g} mm²"



def drop_text(drop: float) -> str:
    """An accuracy drop (fraction) in percentage points: "1 point", "2.5 points"."""
    v = 100 * drop
    return f"{v:g} point" + ("" if v == 1 else "s")


def share_text(part: float, whole: float) -> str:
    """part / whole as a whole percentage ("n/a" when whole is 0)."""
    return f"{100 * part / whole:.0f} %" if whole else "n/a"

