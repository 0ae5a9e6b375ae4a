"""Reading and writing IDX files, the format of MNIST and Fashion-MNIST.

An IDX file is a 4-byte magic number (0x00 0x00, a type code, the number of dimensions),
one big-endian uint32 per dimension, then the values in C order, big-endian. Files may be
gzip-compressed; compression is detected from the content (bytes 1f 8b), not the file name,
because both `.gz` files that are raw and raw files that are gzip occur in the wild.
Every problem raises DataError with one line that names the file.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from nnexp.errors import DataError

GZIP_MAGIC = b"\x1f\x8b"

# IDX type code -> big-endian numpy dtype
IDX_TYPES = {
    0x08: np.dtype(">u1"),  # unsigned byte
    0x09: np.dtype(">i1"),  # signed byte
    0x0B: np.dtype(">i2"),  # short
    0x0C: np.dtype(">i4"),  # int
    0x0D: np.dtype(">f4"),  # float
    0x0E: np.dtype(">f8"),  # double
}
TYPE_CODES = {(dtype.kind, dtype.itemsize): code for code, dtype in IDX_TYPES.items()}


def _read_bytes(path: Path) -> bytes:
    """The file's content, decompressed when it starts with the gzip magic bytes."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror or exc}); check the path") from None
    if raw[:2] != GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: starts like gzip but is not valid gzip ({exc}); "
                        "the file is corrupt or truncated, download it again") from None


def read_idx(path: str | Path) -> np.ndarray:
    """The array stored in an IDX file (raw or gzip), in native byte order.

    Checks the magic number, the type code, the dimensions and that the payload holds
    exactly the number of bytes the header announces; float data must be finite.
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in IDX_TYPES:
        head = " ".join(f"{b:02x}" for b in data[:4]) or "nothing"
        codes = ", ".join(f"{c:#04x}" for c in IDX_TYPES)
        raise DataError(f"{path}: not an IDX file (starts with {head}; an IDX file starts with "
                        f"00 00, a type code in {codes}, then the number of dimensions)")
    dtype, ndim = IDX_TYPES[data[2]], data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise DataError(f"{path}: IDX header announces {ndim} dimensions but the file has "
                        f"{len(data)} bytes; the file is truncated or not an IDX file")
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    actual = len(data) - header
    if actual != expected:
        what = "truncated" if actual < expected else "too long"
        raise DataError(f"{path}: {what}: header {shape} of {dtype.name} needs {expected} payload bytes, "
                        f"file has {actual}; download the file again")
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    array = array.astype(dtype.newbyteorder("="))  # native order, writable copy
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise DataError(f"{path}: contains {np.count_nonzero(~np.isfinite(array))} NaN or inf values; "
                        "the data must be finite")
    return array


def write_idx(path: str | Path, array: np.ndarray, compress: bool = False) -> Path:
    """Write `array` as an IDX file (gzip when compress=True); the inverse of read_idx."""
    array = np.asarray(array)
    code = TYPE_CODES.get((array.dtype.kind, array.dtype.itemsize))
    if code is None:
        raise DataError(f"{path}: IDX cannot store dtype {array.dtype}; allowed: uint8, int8, int16, "
                        "int32, float32, float64")
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    payload = header + array.astype(IDX_TYPES[code]).tobytes()
    path = Path(path)
    path.write_bytes(gzip.compress(payload, mtime=0) if compress else payload)
    return path
