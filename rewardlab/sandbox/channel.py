"""The channels: length-prefixed frames, and the plain-data format of a run's channel.

Two kinds of frames, each a 4-byte little-endian length and a body:

* control frames between the caller and a fork server (both trusted): compact JSON
  objects (:func:`pack`, :func:`parse`);
* a run's channel between the caller and the sandboxed child: ``marshal`` bodies.
  Requests go down as ``marshal.dumps`` of trusted plain data (:func:`dump_request`),
  which the child reads with ``marshal.loads``: one C call each way, so the child runs
  almost no Python of ours (every page of code it runs is a copy-on-write fault).
  Replies come up as ``marshal.dumps(reply, 2)`` (version 2 has no back-references, so
  no aliasing or cycles), and the trusted side *never* calls ``marshal.loads`` on them
  (the format is not safe against crafted input): :func:`load_reply` is a strict
  decoder, written here, for the plain-data subset only.

Plain data: ``None``, ``bool``, ``int``, ``float`` (NaN and infinities included),
``complex``, ``str``, ``bytes``, ``list``, ``tuple``, ``dict``, ``set``, ``frozenset``.
``marshal`` checks exact types, so a subclass with a lying ``__eq__``/``__hash__`` is
refused in the child; objects with the buffer protocol (``bytearray``, ``array``)
arrive as ``bytes``. The decoder builds fresh builtin objects, bounds depth, lengths and
integer size, and refuses code objects and every other type code. Nothing produced by
the untrusted side is ever unpickled, unmarshalled or evaluated.
"""

from __future__ import annotations

import json
import marshal
import os
import struct
from typing import Any

MAX_DEPTH = 100
MAX_INT_DIGITS = 2000  # 15-bit digits: 30,000 bits, about 9,000 decimal digits
_HEADER = struct.Struct("<I")
_I32 = struct.Struct("<i")
_F64 = struct.Struct("<d")
_C128 = struct.Struct("<dd")
_EXACT = frozenset({type(None), bool, int, float, complex, str, bytes})


class EncodeError(ValueError):
    """A value that is not plain data (a custom class, a subclass, too deep)."""


class DecodeError(ValueError):
    """A malformed frame or value from the other side."""


def check_plain(value: Any, depth: int = 0) -> None:
    """Raise EncodeError unless ``value`` is plain data (exact builtin types)."""
    if depth > MAX_DEPTH:
        raise EncodeError("value nested too deeply")
    t = type(value)
    if t in _EXACT:
        return
    if t is list or t is tuple or t is set or t is frozenset:
        for v in value:
            check_plain(v, depth + 1)
    elif t is dict:
        for k, v in value.items():
            check_plain(k, depth + 1)
            check_plain(v, depth + 1)
    else:
        raise EncodeError(f"not plain data: {t.__name__}")


def frame(body: bytes) -> bytes:
    return _HEADER.pack(len(body)) + body


def dump_request(request: tuple[Any, ...]) -> bytes:
    """A request frame for the child. Its arguments must have passed :func:`check_plain`."""
    return frame(marshal.dumps(request))


def dump_reply(reply: tuple[Any, ...]) -> bytes:
    """The child's reply frame: ``(id, kind, payload)``; ValueError if not marshallable."""
    return frame(marshal.dumps(reply, 2))


class _Loader:
    """Decoder of marshal version 2 restricted to plain data, for untrusted bytes.

    Hand-written because ``marshal.loads`` is documented as unsafe on crafted input
    and no library decodes this subset; every length is checked against the bytes left.
    """

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def fixed(self, fmt: struct.Struct) -> Any:
        pos = self.pos
        if pos + fmt.size > len(self.data):
            raise DecodeError("truncated value")
        self.pos = pos + fmt.size
        return fmt.unpack_from(self.data, pos)

    def size(self) -> int:
        (n,) = self.fixed(_I32)
        if n < 0 or n > len(self.data) - self.pos:  # every item takes at least one byte
            raise DecodeError(f"bad length {n}")
        return n

    def raw(self, n: int) -> bytes:
        self.pos += n
        return self.data[self.pos - n : self.pos]

    def value(self, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise DecodeError("value nested too deeply")
        if self.pos >= len(self.data):
            raise DecodeError("truncated value")
        code = self.data[self.pos]
        self.pos += 1
        if code == 0x69:  # i: int32
            return self.fixed(_I32)[0]
        if code == 0x75:  # u: utf-8 text (surrogates allowed, as marshal writes them)
            try:
                return self.raw(self.size()).decode("utf-8", "surrogatepass")
            except UnicodeDecodeError:
                raise DecodeError("malformed text") from None
        simple = _CONSTANTS.get(code, _CONSTANTS)
        if simple is not _CONSTANTS:
            return simple
        if code == 0x67:  # g: binary float
            return self.fixed(_F64)[0]
        if code == 0x73:  # s: bytes
            return self.raw(self.size())
        if code == 0x6C:  # l: int of 15-bit digits
            return self.long()
        if code == 0x79:  # y: binary complex
            return complex(*self.fixed(_C128))
        return self.container(code, depth)

    def long(self) -> int:
        (n,) = self.fixed(_I32)
        if abs(n) > MAX_INT_DIGITS:
            raise DecodeError(f"integer of {abs(n)} digits exceeds {MAX_INT_DIGITS}")
        digits = self.fixed(struct.Struct(f"<{abs(n)}H"))
        value = 0
        for d in reversed(digits):
            if d >= 1 << 15:
                raise DecodeError("malformed integer digit")
            value = (value << 15) | d
        return -value if n < 0 else value

    def container(self, code: int, depth: int) -> Any:
        if code == 0x7B:  # {: key/value pairs up to a 0
            out: dict[Any, Any] = {}
            while self.data[self.pos : self.pos + 1] != b"0":
                key = self.value(depth + 1)
                try:
                    out[key] = self.value(depth + 1)
                except TypeError:
                    raise DecodeError("unhashable dict key") from None
            self.pos += 1
            return out
        kind = _SEQUENCES.get(code)
        if kind is None:
            raise DecodeError(f"type code {chr(code)!r} is not plain data")
        items = [self.value(depth + 1) for _ in range(self.size())]
        try:
            return items if kind is list else kind(items)
        except TypeError:
            raise DecodeError("unhashable set element") from None


_CONSTANTS: dict[int, Any] = {0x4E: None, 0x54: True, 0x46: False}  # N T F
_SEQUENCES: dict[int, type] = {0x5B: list, 0x28: tuple, 0x3C: set, 0x3E: frozenset}  # [ ( < >


def load_reply(body: bytes) -> tuple[Any, str, Any]:
    """``(id, kind, payload)`` of a reply frame from the sandbox.

    The envelope must be well formed (else DecodeError); a payload that is not plain
    data comes back as the DecodeError itself, so one bad value fails one request.
    """
    loader = _Loader(body)
    if body[:5] != b"(\x03\x00\x00\x00":
        raise DecodeError("reply is not an (id, kind, payload) tuple")
    loader.pos = 5
    rid = loader.value(1)
    kind = loader.value(1)
    if not isinstance(kind, str) or not (rid is None or type(rid) is int):
        raise DecodeError("malformed reply envelope")
    payload: Any
    try:
        payload = loader.value(1)
    except (DecodeError, RecursionError) as exc:
        return rid, kind, DecodeError(str(exc)) if isinstance(exc, RecursionError) else exc
    if loader.pos != len(body):
        raise DecodeError("trailing bytes after the reply")
    return rid, kind, payload


def pack(message: dict[str, Any]) -> bytes:
    """One frame: 4-byte little-endian length, then compact JSON."""
    body = json.dumps(message, separators=(",", ":"), allow_nan=False).encode()
    return _HEADER.pack(len(body)) + body


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
