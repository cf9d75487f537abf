"""How the command line reports a failure: one line naming file, key and value, and an exit status.

Every exception that leaves a command becomes ``crossbar-sim CMD: error:
MESSAGE`` on stderr (one line, a long quoted value shortened; never a
traceback unless ``--debug``), and warnings become ``crossbar-sim CMD:
warning: MESSAGE``. Exit status: 2 for an error, 130 for an interrupt.
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from collections.abc import Iterator

from crossbar.checks import one_line

__all__ = ["describe", "one_line_warnings", "report"]

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


def describe(err: BaseException) -> str:
    """One line for ``err``: the message itself for the errors crossbar-sim raises on purpose
    (they name file, key and value), the exception type added for anything else."""
    if isinstance(err, OSError) and err.filename is not None and err.strerror:
        target = f" -> {err.filename2}" if err.filename2 else ""
        return f"{err.filename}{target}: {err.strerror}"
    if isinstance(err, RecursionError):
        return "the input is nested too deeply (RecursionError)"
    if isinstance(err, MemoryError):
        return "out of memory (MemoryError): reduce the sizes in the configuration"
    if isinstance(err, KeyError):
        return f"missing key {err.args[0]!r}" if err.args else "missing key"
    text = one_line(err)
    if isinstance(err, (ValueError, OSError, LookupError, ImportError, NotImplementedError)):
        return text or type(err).__name__
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def report(command: str, err: BaseException) -> int:
    """Print ``err`` as one line for ``command``; returns the exit status."""
    if isinstance(err, KeyboardInterrupt):
        print(f"crossbar-sim {command}: interrupted; finished work is saved, run again to resume",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    print(f"crossbar-sim {command}: error: {describe(err)}", file=sys.stderr)
    return EXIT_ERROR


@contextlib.contextmanager
def one_line_warnings(command: str) -> Iterator[None]:
    """Show every warning raised inside as one line ``crossbar-sim CMD: warning: ...``."""

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        print(f"crossbar-sim {command}: warning: {' '.join(str(message).split())}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield
