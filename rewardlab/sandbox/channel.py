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
arrive as ``bytes``. The decoder builds fresh builtin objects, bounds depth, lengths,
integer size and hash collisions, and refuses code objects and every other type code;
the payloads of the runner's own reply kinds must have their shapes (an ``exc`` is a
dict of text). Nothing produced by the untrusted side is ever unpickled, unmarshalled
or evaluated.

Decoding one reply costs time linear in its size, with a small constant: sets and dicts
are decoded as lists first, and built only when their keys' hashes do not collide more
than :data:`MAX_HASH_COLLISIONS` times (keys built to collide, such as ``k * (2**61 -
1)``, make each insert compare with every earlier key: quadratic time in one C call,
which holds the caller's GIL).
"""

from __future__ import annotations

import json
import marshal
import os
import struct
from collections import Counter
from typing import Any

MAX_DEPTH = 100
MAX_INT_DIGITS = 2000  # 15-bit digits: 30,000 bits, about 9,000 decimal digits
MAX_HASH_COLLISIONS = 256  # pairs of a set's elements or a dict's keys with equal hashes
_SMALL = 32  # containers up to this size cost at most 496 comparisons: not counted
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


# The decoder: marshal version 2 restricted to plain data, for untrusted bytes. Written
# here because ``marshal.loads`` is documented as unsafe on crafted input and no library
# decodes this subset. Every length is checked against the bytes left; a truncated
# fixed-size item raises struct.error or IndexError, turned into DecodeError by
# :func:`load_reply`. Functions over ``(data, pos)``, not a class: this runs once per
# reply in the caller, and attribute access doubled its cost.
_unpack_i32 = _I32.unpack_from
_unpack_f64 = _F64.unpack_from
_CONSTANTS: dict[int, Any] = {0x4E: None, 0x54: True, 0x46: False}  # N T F
_SEQUENCES: dict[int, type] = {0x5B: list, 0x28: tuple, 0x3C: set, 0x3E: frozenset}  # [ ( < >


def _length(data: bytes, pos: int) -> int:
    n = _unpack_i32(data, pos)[0]
    if n < 0 or n > len(data) - pos - 4:  # every item takes at least one byte
        raise DecodeError(f"bad length {n}")
    return n


def _value(data: bytes, pos: int, depth: int) -> tuple[Any, int]:
    """The value at ``pos`` and the position after it."""
    code = data[pos]
    pos += 1
    if code == 0x69:  # i: int32
        return _unpack_i32(data, pos)[0], pos + 4
    if code == 0x67:  # g: binary float
        return _unpack_f64(data, pos)[0], pos + 8
    if code == 0x75:  # u: utf-8 text (surrogates allowed, as marshal writes them)
        end = pos + 4 + _length(data, pos)
        return data[pos + 4 : end].decode("utf-8", "surrogatepass"), end
    if code in _CONSTANTS:
        return _CONSTANTS[code], pos
    if code == 0x73:  # s: bytes
        end = pos + 4 + _length(data, pos)
        return data[pos + 4 : end], end
    if code == 0x6C:  # l: int of 15-bit digits
        return _long(data, pos)
    if code == 0x79:  # y: binary complex
        return complex(*_C128.unpack_from(data, pos)), pos + 16
    if depth >= MAX_DEPTH:
        raise DecodeError("value nested too deeply")
    if code == 0x7B:  # {: key/value pairs up to a 0
        keys, values = [], []
        while data[pos] != 0x30:
            key, pos = _value(data, pos, depth + 1)
            value, pos = _value(data, pos, depth + 1)
            keys.append(key)
            values.append(value)
        return dict(zip(_hashable(keys), values, strict=True)), pos + 1
    kind = _SEQUENCES.get(code)
    if kind is None:
        raise DecodeError(f"type code {chr(code)!r} is not plain data")
    n = _length(data, pos)
    pos += 4
    items = []
    for _ in range(n):
        item, pos = _value(data, pos, depth + 1)
        items.append(item)
    if kind is list:
        return items, pos
    return kind(_hashable(items) if kind is not tuple else items), pos


def _hashable(keys: list[Any]) -> list[Any]:
    """``keys`` if a set or dict of them is built in linear time; DecodeError if too many
    pairs have equal hashes (each such pair costs a comparison per insert and lookup).
    Real sets and dicts never hold equal keys, so a frame with duplicates is crafted."""
    if len(keys) <= _SMALL:
        return keys
    counts = Counter(map(hash, keys))  # TypeError if unhashable
    if len(counts) < len(keys):
        pairs = sum(c * (c - 1) // 2 for c in counts.values() if c > 1)
        if pairs > MAX_HASH_COLLISIONS:
            raise DecodeError(f"{pairs} pairs of keys with equal hashes (limit {MAX_HASH_COLLISIONS})")
    return keys


def _long(data: bytes, pos: int) -> tuple[int, int]:
    n = _unpack_i32(data, pos)[0]
    if abs(n) > MAX_INT_DIGITS:
        raise DecodeError(f"integer of {abs(n)} digits exceeds {MAX_INT_DIGITS}")
    digits = struct.unpack_from(f"<{abs(n)}H", data, pos + 4)
    if digits and max(digits) >= 1 << 15:
        raise DecodeError("malformed integer digit")
    if len(digits) <= 8:
        value = 0
        for d in reversed(digits):
            value = (value << 15) | d
    else:  # linear time: 8 digits (120 bits) make 15 bytes, then one from_bytes
        chunks = bytearray()
        for k in range(0, len(digits), 8):
            chunk = 0
            for d in reversed(digits[k : k + 8]):
                chunk = (chunk << 15) | d
            chunks += chunk.to_bytes(15, "little")
        value = int.from_bytes(chunks, "little")
    return (-value if n < 0 else value), pos + 4 + 2 * abs(n)


def _payload(body: bytes, pos: int) -> tuple[Any, int]:
    """The value at ``pos``, every malformation reported as DecodeError."""
    try:
        return _value(body, pos, 1)
    except DecodeError:
        raise
    except (IndexError, struct.error):
        raise DecodeError("truncated value") from None
    except UnicodeDecodeError:
        raise DecodeError("malformed text") from None
    except TypeError:
        raise DecodeError("unhashable set element or dict key") from None


_INT_ID = b"(\x03\x00\x00\x00i"  # a reply tuple whose first item, the id, is a marshal int


def reply_id(body: bytes) -> int | None:
    """The id of a reply frame read from its first bytes, without decoding the rest
    (``None`` where the frame does not start as an id-carrying reply): the caller drops
    frames for ids it no longer waits for without paying for their payload."""
    return _unpack_i32(body, 6)[0] if body[:6] == _INT_ID and len(body) >= 10 else None


def load_reply(body: bytes) -> tuple[Any, str, Any]:
    """``(id, kind, payload)`` of a reply frame from the sandbox.

    The envelope must be well formed (else DecodeError); a payload that is not plain
    data, or not of its kind's shape (:func:`_check_shape`), comes back as the
    DecodeError itself, so one bad value fails one request.
    """
    if body[:5] != b"(\x03\x00\x00\x00":
        raise DecodeError("reply is not an (id, kind, payload) tuple")
    rid, pos = _payload(body, 5)
    kind, pos = _payload(body, pos)
    if not isinstance(kind, str) or not (rid is None or type(rid) is int):
        raise DecodeError("malformed reply envelope")
    try:
        payload, pos = _payload(body, pos)
    except DecodeError as exc:
        return rid, kind, exc
    if pos != len(body):
        raise DecodeError("trailing bytes after the reply")
    return rid, kind, _check_shape(kind, payload)


_MAX_FIELDS = 8


def _error_info(value: Any) -> bool:
    """An exception description as the runner sends it: a small dict of text."""
    return type(value) is dict and len(value) <= _MAX_FIELDS and all(
        type(k) is str and type(v) is str for k, v in value.items())


def _check_shape(kind: str, payload: Any) -> Any:
    """``payload``, or a DecodeError if the runner's reply of this kind cannot have it:
    the caller then only ever turns text into text (no ``str`` of a crafted integer)."""
    if kind == "exc" and not _error_info(payload):
        return DecodeError("an exception reply that is not a dict of text")
    if kind == "stdio" and not (
        type(payload) is tuple and len(payload) == 3 and type(payload[0]) is str
        and type(payload[1]) is bool and (payload[2] is None or _error_info(payload[2]))
    ):
        return DecodeError("a stdio reply that is not (text, bool, exception or None)")
    if kind == "setup_error" and type(payload) is not str:
        return DecodeError("a setup error that is not text")
    return payload


def pack(message: dict[str, Any]) -> bytes:
    """One frame: 4-byte little-endian length, then compact JSON."""
    body = json.dumps(message, separators=(",", ":"), allow_nan=False).encode()
    return _HEADER.pack(len(body)) + body


def write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` to a blocking fd (os.write may write part of it)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


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
