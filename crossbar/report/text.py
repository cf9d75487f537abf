"""Number formatting shared by the budget and demo reports.

Formatters take finished results or their report.json form alike (attributes
or keys), so the README excerpt can be made from report.json alone.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["drop_text", "field", "iv_text", "mm2", "pct", "range_text", "scale_text", "share_text",
           "verdict_text"]


def field(obj: Any, name: str, default: Any = None) -> Any:
    """``obj.name`` or ``obj[name]`` (report.json dicts), else ``default``."""
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _nan(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def pct(v: float | None, digits: int = 1) -> str:
    """A fraction as a percentage ("n/a" for None or NaN)."""
    return "n/a" if _nan(v) else f"{100 * v:.{digits}f} %"


def iv_text(iv: Any, digits: int = 1) -> str:
    """An accuracy with its confidence interval: "97.8 % (96.6–98.7)"; "n/a" for None."""
    if iv is None:
        return "n/a"
    mean, lo, hi = field(iv, "mean"), field(iv, "lo"), field(iv, "hi")
    if lo == hi == mean:
        return pct(mean, digits)
    return f"{100 * mean:.{digits}f} % ({100 * lo:.{digits}f}–{100 * hi:.{digits}f})"


def scale_text(th: Any) -> str:
    """A tolerable noise scale (the point estimate): "none", "2.5×" or "≥ 128×" (a lower bound)."""
    status = field(th, "status")
    if status == "none":
        return "none"
    text = f"{field(th, 'scale'):.3g}×"
    return f"≥ {text}" if status == "all" else text


def range_text(th: Any, lo: float, hi: float) -> str:
    """The interval of the tolerable noise scale: confirmed–excluded, "< lo" / "> hi" where the
    searched range [lo, hi] holds no such level."""
    c, e = field(th, "confirmed"), field(th, "excluded")
    left = f"< {lo:.3g}" if _nan(c) else f"{c:.3g}"
    right = f"> {hi:.3g}" if _nan(e) else f"{e:.3g}"
    return f"{left}–{right}×"


def verdict_text(rel: str | None, more: str, less: str, tie: str = "tie") -> str:
    """A comparison result (">", "<", "tie") in words."""
    return {">": more, "<": less, "tie": tie}.get(rel or "", "n/a")


def mm2(v: float) -> str:
    """An area in m² as mm²."""
    return f"{v * 1e6:.4g} mm²"


def drop_text(drop: float) -> str:
    """An accuracy drop (fraction) in percentage points: "1 point", "2.5 points"."""
    v = round(100 * drop, 6)
    return f"{v:g} point" + ("" if v == 1 else "s")


def share_text(part: float, whole: float) -> str:
    """part / whole as a whole percentage ("n/a" when whole is 0)."""
    return f"{100 * part / whole:.0f} %" if whole else "n/a"
