"""Where the parts and the size fields of a media file lie, so mutations can aim at them.

`layout(data)` walks the container a file's first bytes announce (MP4/MOV boxes, Matroska
elements, PNG chunks, JPEG segments, GIF blocks, MPEG-TS packets, Annex-B NAL units) and returns
its units (byte spans a splice may cut, copy or move) and its size fields (the byte ranges that
declare a length or a frame size). The walk trusts nothing: it stops where the data stops
making sense, so it works on already-mutated files too.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

_MP4_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"dinf", b"udta",
                   b"mvex", b"moof", b"traf", b"stsd"}  # fmt: skip
_MP4_VISUAL = {b"avc1", b"avc3", b"hvc1", b"hev1", b"mp4v", b"png ", b"jpeg", b"vp08", b"vp09"}
# Matroska master elements (they hold elements) and the two frame-size elements.
_EBML_MASTERS = {0x1A45DFA3, 0x18538067, 0x1654AE6B, 0xAE, 0xE0, 0x1F43B675, 0xA0,
                 0x1549A966, 0x114D9B74, 0x4DBB, 0x1C53BB6B, 0xBB, 0xB7, 0x1254C367}  # fmt: skip
_EBML_PIXELS = {0xB0, 0xBA}


@dataclass(frozen=True)
class Field:
    """`length` bytes at `offset` holding a number (big- or little-endian, or a Matroska
    variable-length size); `crc` is the span of a PNG chunk whose CRC must follow an edit."""

    offset: int
    length: int
    order: str = "big"  # "big", "little" or "ebml"
    crc: tuple[int, int] | None = None


@dataclass
class Layout:
    units: list[tuple[int, int]] = field(default_factory=list)
    fields: list[Field] = field(default_factory=list)


def _u(data: bytes, pos: int, n: int, order: str = "big") -> int:
    return int.from_bytes(data[pos : pos + n], order)


def _mp4(data: bytes, start: int, end: int, out: Layout, depth: int = 0) -> None:
    pos = start
    while pos + 8 <= end and depth < 12:
        size, kind = _u(data, pos, 4), data[pos + 4 : pos + 8]
        header = 8
        if size == 1 and pos + 16 <= end:
            size, header = _u(data, pos + 8, 8), 16
            out.fields.append(Field(pos + 8, 8))
        elif size == 0:
            size = end - pos  # to the end of the file
        if size < header or pos + size > end:
            return
        out.units.append((pos, pos + size))
        out.fields.append(Field(pos, 4))
        if kind == b"stsd":
            _mp4(data, pos + 16, pos + size, out, depth + 1)
        elif kind in _MP4_VISUAL and size >= 86:
            out.fields += [Field(pos + 32, 2), Field(pos + 34, 2)]  # width, height
            _mp4(data, pos + 86, pos + size, out, depth + 1)
        elif kind in _MP4_CONTAINERS:
            _mp4(data, pos + header, pos + size, out, depth + 1)
        elif kind == b"tkhd" and size >= 92:
            out.fields += [Field(pos + size - 8, 4), Field(pos + size - 4, 4)]  # 16.16 fixed
        pos += size


def _vint_length(first: int) -> int:
    return 9 - first.bit_length() if first else 0


def _ebml(data: bytes, start: int, end: int, out: Layout, depth: int = 0) -> None:
    pos = start
    while pos < end and depth < 12:
        id_len = _vint_length(data[pos])
        if not 1 <= id_len <= 4 or pos + id_len >= end:
            return
        element = _u(data, pos, id_len)
        size_at = pos + id_len
        size_len = _vint_length(data[size_at])
        if not 1 <= size_len <= 8 or size_at + size_len > end:
            return
        body = size_at + size_len
        size = _u(data, size_at, size_len) & ((1 << (7 * size_len)) - 1)
        if size == (1 << (7 * size_len)) - 1 or body + size > end:
            size = end - body  # unknown size (live streams), or cut short
        out.units.append((pos, body + size))
        out.fields.append(Field(size_at, size_len, "ebml"))
        if element in _EBML_PIXELS and size <= 8:
            out.fields.append(Field(body, size))
        elif element in _EBML_MASTERS:
            _ebml(data, body, body + size, out, depth + 1)
        pos = body + size


def _png_chunks(data: bytes, start: int, end: int, out: Layout) -> None:
    pos = start
    while pos + 12 <= end:
        length = _u(data, pos, 4)
        if pos + 12 + length > end:
            return
        out.units.append((pos, pos + 12 + length))
        out.fields.append(Field(pos, 4))
        if data[pos + 4 : pos + 8] == b"IHDR" and length >= 8:
            span = (pos + 4, pos + 8 + length)  # the CRC covers type and data
            out.fields += [Field(pos + 8, 4, crc=span), Field(pos + 12, 4, crc=span)]
        pos += 12 + length


def _jpeg(data: bytes, out: Layout) -> None:
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker, length = data[pos + 1], _u(data, pos + 2, 2)
        out.units.append((pos, pos + 2 + length))
        out.fields.append(Field(pos + 2, 2))
        if 0xC0 <= marker <= 0xC3 and length >= 7:
            out.fields += [Field(pos + 5, 2), Field(pos + 7, 2)]  # height, width
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            return
        pos += 2 + length


def _gif_sub_blocks(data: bytes, pos: int) -> int:
    while pos < len(data) and data[pos]:
        pos += 1 + data[pos]
    return pos + 1


def _gif(data: bytes, out: Layout) -> None:
    out.fields += [Field(6, 2, "little"), Field(8, 2, "little")]  # the screen's width, height
    pos = 13 + ((3 << ((data[10] & 7) + 1)) if data[10] & 0x80 else 0)
    while pos < len(data) and data[pos] != 0x3B:
        start = pos
        if data[pos] == 0x21:  # extension: label, then sub-blocks
            pos = _gif_sub_blocks(data, pos + 2)
        elif data[pos] == 0x2C and pos + 10 <= len(data):  # image: descriptor, table, data
            out.fields += [Field(pos + 5, 2, "little"), Field(pos + 7, 2, "little")]
            flags = data[pos + 9]
            pos += 10 + ((3 << ((flags & 7) + 1)) if flags & 0x80 else 0)
            pos = _gif_sub_blocks(data, pos + 1)
        else:
            return
        out.units.append((start, min(pos, len(data))))


def _annexb(data: bytes, out: Layout) -> None:
    starts = []
    pos = data.find(b"\x00\x00\x01")
    while pos != -1:
        starts.append(pos)
        pos = data.find(b"\x00\x00\x01", pos + 3)
    if starts:
        out.units += list(zip(starts, [*starts[1:], len(data)], strict=True))


def layout(data: bytes) -> Layout:
    """The units and size fields of `data`, by the kind its first bytes announce."""
    out = Layout()
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        _png_chunks(data, 8, len(data), out)
    elif data[:2] == b"\xff\xd8":
        _jpeg(data, out)
    elif data[:4] in (b"GIF8",) and len(data) >= 13:
        _gif(data, out)
    elif data[:4] == b"\x1aE\xdf\xa3":
        _ebml(data, 0, len(data), out)
    elif data[:1] == b"\x47" and len(data) >= 376 and data[188] == 0x47:
        out.units += [(i, i + 188) for i in range(0, len(data) - 187, 188)]
    elif data[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide"):
        _mp4(data, 0, len(data), out)
        # PNG frames in a MOV: their headers declare sizes too.
        at = data.find(b"\x89PNG\r\n\x1a\n")
        while at != -1:
            _png_chunks(data, at + 8, min(len(data), at + 8 + 64), out)
            at = data.find(b"\x89PNG\r\n\x1a\n", at + 8)
    else:
        _annexb(data, out)
    return out


def fix_crc(data: bytearray, span: tuple[int, int]) -> None:
    """Recompute the CRC stored right after `span` (a PNG chunk's type and data)."""
    start, end = span
    if end + 4 <= len(data):
        data[end : end + 4] = zlib.crc32(bytes(data[start:end])).to_bytes(4, "big")


__all__ = ["Field", "Layout", "fix_crc", "layout"]
