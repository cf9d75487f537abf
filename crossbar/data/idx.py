"""IDX files (the MNIST / Fashion-MNIST container format): read and write.

Layout: two zero bytes, a type code, the number of dimensions ``ndim``, then
``ndim`` big-endian uint32 sizes, then the data in C order, big-endian.
Files may be gzip-compressed; compression is detected from the content (the
gzip magic bytes), not from the file name.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from ._files import atomic_write
from .errors import DatasetFormatError

__all__ = ["read_idx", "write_idx", "IDX_TYPES"]

#: type code -> big-endian numpy dtype
IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    with open(path, "rb") as fh:
        raw = fh.read()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, ValueError) as exc:  # truncated / corrupt gzip stream
            raise DatasetFormatError(f"{path}: corrupt gzip stream ({exc})") from exc
    return raw


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (raw or gzipped) into a native-endian numpy array.

    Raises :class:`DatasetFormatError` naming the file on a bad magic number,
    an unknown type code or a size that does not match the header.
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise DatasetFormatError(f"{path}: not an IDX file (only {len(raw)} bytes)")
    zero, code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or code not in IDX_TYPES or ndim == 0:
        raise DatasetFormatError(
            f"{path}: not an IDX file (bad magic number 0x{raw[:4].hex()}; expected "
            "0x0000 followed by a type code in "
            f"{{{', '.join(f'0x{c:02x}' for c in IDX_TYPES)}}} and ndim >= 1)"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetFormatError(f"{path}: truncated IDX header ({len(raw)} bytes)")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = IDX_TYPES[code]
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        raise DatasetFormatError(
            f"{path}: wrong size: header says shape {tuple(shape)} of {dtype.name} "
            f"({expected} bytes with header) but the (decompressed) file has {len(raw)} bytes"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def write_idx(path: str | Path, array: np.ndarray, compress: bool | None = None) -> Path:
    """Write ``array`` as an IDX file, atomically. Returns the path.

    ``compress=None`` gzips when the file name ends in ``.gz``.
    """
    path = Path(path)
    array = np.asarray(array)
    code = next((c for c, dt in IDX_TYPES.items() if dt.newbyteorder("=") == array.dtype), None)
    if code is None:
        raise TypeError(f"IDX cannot store dtype {array.dtype}")
    if array.ndim == 0 or array.ndim > 255:
        raise ValueError("IDX needs 1 to 255 dimensions")
    payload = (
        struct.pack(">HBB", 0, code, array.ndim)
        + struct.pack(f">{array.ndim}I", *array.shape)
        + np.ascontiguousarray(array, dtype=IDX_TYPES[code]).tobytes()
    )
    if compress is None:
        compress = path.name.endswith(".gz")
    if compress:
        payload = gzip.compress(payload, mtime=0)
    return atomic_write(path, lambda fh: fh.write(payload))
