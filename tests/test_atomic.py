"""Atomic writes: all or nothing under the final name, with an ordinary file mode."""

import stat

import pytest

from crossbar.atomic import atomic_write, atomic_write_text


def test_file_mode_is_that_of_a_plain_open(tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    written = atomic_write_text(tmp_path / "atomic.txt", "x")
    assert stat.S_IMODE(written.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)


def test_failed_check_or_write_leaves_nothing(tmp_path):
    target = tmp_path / "out.bin"

    def reject(path):
        assert path.read_bytes() == b"data" and path != target
        raise ValueError("bad checksum")

    with pytest.raises(ValueError, match="bad checksum"):
        atomic_write(target, lambda fh: fh.write(b"data"), check=reject)

    def broken(fh):
        fh.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, broken)
    assert list(tmp_path.iterdir()) == []


def test_replaces_an_existing_file_whole(tmp_path):
    target = atomic_write_text(tmp_path / "a.txt", "old")
    atomic_write_text(target, "new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]
