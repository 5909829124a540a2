"""Moving values between Arrow and numpy without pyarrow's pandas integration.

pyarrow imports pandas (about 40 MB resident) the first time a Python value or a numpy array is
converted (`pa.array`, `pa.scalar`, `to_numpy`, a Python number passed to a compute function).
The profile needs no pandas, so the reading and profiling code builds its arrays and scalars
here, from raw buffers, and leaves pandas to the interactive answers that use it.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]

_TYPES: dict[np.dtype, pa.DataType] = {
    np.dtype(np.int32): pa.int32(),
    np.dtype(np.int64): pa.int64(),
    np.dtype(np.float64): pa.float64(),
}
_DTYPES: dict[str, np.dtype] = {str(t): d for d, t in _TYPES.items()}


def _dtype(type_: pa.DataType) -> np.dtype:
    if pa.types.is_timestamp(type_):
        return np.dtype(np.int64)
    return _DTYPES[str(type_)]


def from_numpy(values: np.ndarray) -> pa.Array:
    """A null-free Arrow array over (a contiguous copy of) a 1-D numeric numpy array."""
    values = np.ascontiguousarray(values)
    return pa.Array.from_buffers(_TYPES[values.dtype], len(values), [None, pa.py_buffer(values)])


def scalar(value: int | float, type_: pa.DataType) -> pa.Scalar:
    """A numeric scalar of the given Arrow type (int32, int64 or float64)."""
    return from_numpy(np.array([value], dtype=_dtype(type_)))[0]


def strings(values: list[str]) -> pa.Array:
    """A null-free string array built from its buffers (pa.array would import pandas)."""
    encoded = [v.encode() for v in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int32)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    data = pa.py_buffer(b"".join(encoded))
    return pa.Array.from_buffers(pa.string(), len(encoded), [None, pa.py_buffer(offsets), data])


def text(value: str) -> pa.Scalar:
    return strings([value])[0]


def integers(values: list[int]) -> pa.Array:
    return from_numpy(np.array(values, dtype=np.int64))


def null(type_: pa.DataType) -> pa.Scalar:
    return pa.nulls(1, type_)[0]


TRUE = pa.Array.from_buffers(pa.bool_(), 1, [None, pa.py_buffer(b"\x01")])[0]
FALSE = pa.Array.from_buffers(pa.bool_(), 1, [None, pa.py_buffer(b"\x00")])[0]


def to_numpy(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """The values of a null-free numeric (or timestamp, as int64) array; one copy at most."""
    chunks = array.chunks if isinstance(array, pa.ChunkedArray) else [array]
    if isinstance(array, pa.ChunkedArray) and not chunks:
        chunks = [pa.nulls(0, array.type)]
    parts = []
    for chunk in chunks:
        if chunk.null_count:
            raise ValueError("fill the nulls first")
        dtype = _dtype(chunk.type)
        data = chunk.buffers()[1]
        if data is None:  # an empty array may have no buffer
            parts.append(np.zeros(0, dtype=dtype))
            continue
        parts.append(np.frombuffer(data, dtype=dtype, count=len(chunk), offset=chunk.offset * dtype.itemsize))
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def floats(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Float64 values with NaN for nulls, from an integer or float column."""
    import pyarrow.compute as pc  # type: ignore[import-untyped]

    if not pa.types.is_float64(array.type):
        array = pc.cast(array, pa.float64())
    if array.null_count:
        array = pc.fill_null(array, scalar(np.nan, pa.float64()))
    return to_numpy(array)


def present(chunk: pa.Array) -> np.ndarray:
    """Boolean numpy mask of one array, True where a value is present."""
    if not chunk.null_count:
        return np.ones(len(chunk), dtype=bool)
    bits = np.unpackbits(np.frombuffer(chunk.buffers()[0], dtype=np.uint8), bitorder="little")
    return bits[chunk.offset : chunk.offset + len(chunk)].astype(bool)


def cast(array: pa.Array | pa.ChunkedArray, type_: pa.DataType) -> pa.Array | pa.ChunkedArray:
    """pc.cast chunk by chunk: on a chunked column the kernel would allocate one contiguous copy,
    which cannot reuse the freed chunks of the columns converted before it."""
    import pyarrow.compute as pc  # type: ignore[import-untyped]

    if not isinstance(array, pa.ChunkedArray):
        return pc.cast(array, type_)
    return pa.chunked_array([pc.cast(chunk, type_) for chunk in array.chunks], type=type_)
