"""The installation smoke check (``python -m crossbar.smoke``, run by ``make wheel-check``)."""

from __future__ import annotations

import warnings


def test_smoke_check_passes_without_a_warning(capsys):
    """Every bundled profile programs and reads a small array, the ideal one reproduces x @ W,
    and the check itself causes no warning (calibrated-range profiles are calibrated first)."""
    from crossbar import smoke

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert smoke.main() == 0
    assert "smoke check passed" in capsys.readouterr().out
