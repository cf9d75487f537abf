"""Exceptions raised by the dataset layer."""

from __future__ import annotations

__all__ = ["DatasetNotFoundError", "DatasetFormatError"]


class DatasetNotFoundError(FileNotFoundError):
    """The files a dataset needs are not where we looked (and were not downloaded).

    The message always names the expected files and the folder(s) searched, and
    says how to obtain them.
    """

    def __str__(self) -> str:  # FileNotFoundError would format (errno, strerror)
        return str(self.args[0]) if self.args else ""


class DatasetFormatError(ValueError):
    """A dataset file exists but is not what it should be (bad magic, wrong size, ...).

    The message names the offending file.
    """
