"""The result channel: length-prefixed JSON frames and a plain-data codec.

Values cross the sandbox boundary only as *plain data*: ``None``, ``bool``, ``int``,
``float`` (NaN and infinities tagged), ``str``, ``bytes``, ``list``, ``tuple``,
``dict``, ``set``, ``frozenset``. The encoder checks exact types (``type(x) is int``),
so subclasses with lying ``__eq__``/``__hash__`` are refused rather than called, and
the decoder in the trusted parent builds fresh builtin objects. Nothing produced by
the untrusted side is ever unpickled or evaluated.
"""

from __future__ import annotations

import json
import math
import os
import struct
from typing import Any

MAX_DEPTH = 100
_HEADER = struct.Struct("<I")


class EncodeError(ValueError):
    """A value that is not plain data (a custom class, a subclass, too deep)."""


class DecodeError(ValueError):
    """A malformed frame or tagged value from the other side."""


def encode(value: Any, depth: int = 0) -> Any:
    """Plain data -> JSON-able tagged form. Refuses anything that could run user code."""
    if depth > MAX_DEPTH:
        raise EncodeError("value nested too deeply")
    t = type(value)
    if value is None or t is bool or t is str:
        return value
    if t is int:
        return value if -(2**53) < value < 2**53 else {"i": str(value)}
    if t is float:
        return value if math.isfinite(value) else {"f": repr(value)}
    if t is list:
        return [encode(v, depth + 1) for v in value]
    if t is tuple:
        return {"t": [encode(v, depth + 1) for v in value]}
    if t is dict:
        return {"d": [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in value.items()]}
    if t is set or t is frozenset:
        return {"s" if t is set else "fs": [encode(v, depth + 1) for v in value]}
    if t is bytes:
        return {"b": value.hex()}
    if t is complex:
        return {"c": [encode(value.real), encode(value.imag)]}
    raise EncodeError(f"not plain data: {t.__name__}")


_FLOATS = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def decode(obj: Any, depth: int = 0) -> Any:
    """Tagged form -> fresh builtin objects. Raises DecodeError on anything unexpected."""
    if depth > MAX_DEPTH + 1:
        raise DecodeError("value nested too deeply")
    t = type(obj)
    if obj is None or t in (bool, str, int, float):
        return obj
    if t is list:
        return [decode(v, depth + 1) for v in obj]
    if t is not dict or len(obj) != 1:
        raise DecodeError(f"malformed value of type {t.__name__}")
    ((tag, body),) = obj.items()
    try:
        if tag == "i":
            return int(body)
        if tag == "f":
            return _FLOATS[body]
        if tag == "t":
            return tuple(decode(v, depth + 1) for v in body)
        if tag == "d":
            return {decode(k, depth + 1): decode(v, depth + 1) for k, v in body}
        if tag == "s":
            return {decode(v, depth + 1) for v in body}
        if tag == "fs":
            return frozenset(decode(v, depth + 1) for v in body)
        if tag == "b":
            return bytes.fromhex(body)
        if tag == "c":
            return complex(float(body[0]), float(body[1]))
    except DecodeError:
        raise
    except (TypeError, ValueError, KeyError) as exc:  # unhashable keys, bad hex, bad ints
        raise DecodeError(f"malformed {tag!r} value: {exc}") from None
    raise DecodeError(f"unknown tag {tag!r}")


def pack(message: dict[str, Any]) -> bytes:
    """One frame: 4-byte little-endian length, then compact JSON."""
    body = json.dumps(message, separators=(",", ":"), allow_nan=False).encode()
    return _HEADER.pack(len(body)) + body


def write_frame(fd: int, message: dict[str, Any]) -> None:
    """Write a whole frame to a blocking fd."""
    data = memoryview(pack(message))
    while data:
        n = os.write(fd, data)
        data = data[n:]


def read_exact(fd: int, n: int) -> bytes:
    """Read exactly n bytes from a blocking fd; EOFError if the other side is gone."""
    chunks = []
    while n:
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            raise EOFError("channel closed")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int, max_bytes: int = 64 << 20) -> dict[str, Any]:
    """Read one frame from a blocking fd (used by the trusted sides only)."""
    (size,) = _HEADER.unpack(read_exact(fd, _HEADER.size))
    if size > max_bytes:
        raise DecodeError(f"frame of {size} bytes exceeds the {max_bytes}-byte limit")
    return parse(read_exact(fd, size))


def parse(body: bytes) -> dict[str, Any]:
    """Parse a frame body; only JSON objects are accepted."""
    try:
        message = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise DecodeError(f"malformed frame: {exc}") from None
    if not isinstance(message, dict):
        raise DecodeError("frame is not an object")
    return message


class FrameBuffer:
    """Incremental frame splitter for a non-blocking reader with a size cap."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.buf = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        """Add bytes; return complete frame bodies. Raises DecodeError past the cap."""
        self.buf += data
        frames = []
        while len(self.buf) >= _HEADER.size:
            (size,) = _HEADER.unpack_from(self.buf)
            if size > self.max_bytes:
                raise DecodeError(f"frame of {size} bytes exceeds the {self.max_bytes}-byte limit")
            if len(self.buf) < _HEADER.size + size:
                break
            frames.append(bytes(self.buf[_HEADER.size : _HEADER.size + size]))
            del self.buf[: _HEADER.size + size]
        if len(self.buf) > self.max_bytes + _HEADER.size:
            raise DecodeError("output exceeds the channel limit")
        return frames
