"""A reader for the IDX format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/).

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of dimensions),
one big-endian int32 per dimension, then the data in C order, big-endian.
"""
from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import Union

import numpy as np

from gankit.errors import GankitError

# IDX type code -> big-endian numpy dtype
_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path: Union[str, Path]) -> np.ndarray:
    """Read an IDX file, gzipped or not (detected from its first bytes), into a native-order array.

    Raises:
        GankitError naming the file if it cannot be read, is not IDX, or is truncated or too long.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == _GZIP_MAGIC:
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise GankitError(f"cannot read IDX file {path}: {exc}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        raise GankitError(f"{path} is not an IDX file (bad magic number {raw[:4].hex() or 'empty'}); "
                          "the download may be corrupt")
    dtype = np.dtype(_DTYPES[raw[2]])
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise GankitError(f"IDX file {path} is truncated (header cut short); the download may be corrupt")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">i4", count=ndim, offset=4))
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        state = "truncated" if len(raw) < expected else "longer than its header says"
        raise GankitError(f"IDX file {path} is {state}: {len(raw)} bytes, expected {expected} for shape "
                          f"{list(dims)}; the download may be corrupt")
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)
    return data.astype(dtype.newbyteorder("="))  # a writable copy in native byte order
