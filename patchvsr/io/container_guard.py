"""Refuse H.264 / HEVC streams in any container whose parameter sets declare a frame too large,
before a decoder sees them.

`stream_guard` reads MPEG-TS and raw streams byte by byte. Other containers have the same hole:
an MP4 or Matroska file whose avcC / hvcC header (the codec's extradata) carries an SPS of
16000x16000 made opening it allocate 84 MB for H.264, and an MPEG program stream (`.mpg`,
`.vob`) carrying such an H.264 SPS made it allocate 2.3 GB, all before FFmpeg's own pixel
limit said no. FFmpeg allocates while it opens the file: its stream analysis decodes the first
frames. So the check opens the file once more with no decoder allowed (`codec_whitelist`):
the demuxer and the stream parsers still run, which gives each stream's extradata, its
parsed size and the packets the analysis may decode (up to its 5 MB), and nothing is decoded.
Each SPS found there (in avcC / hvcC records, in Annex-B extradata, in those packets) is
parsed for its size.

Decoding itself goes through `guarded_frames`, which checks every packet's SPS units before
the decoder gets the packet: a later sequence header over the limit is refused the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import av

from patchvsr.io.stream_guard import (
    SCAN_BYTES,
    SpsSize,
    annexb_nals,
    is_sps_header,
    nal_sps_size,
    refuse_size,
)

# FFmpeg opens no decoder whose name is not listed: "none" names none.
_DEMUX_ONLY = {"codec_whitelist": "none"}
# The packets read per stream: those FFmpeg's stream analysis may decode when the file is
# opened, up to its `probesize` (SCAN_BYTES) in all. A count of 16 was not enough: an MP4 or
# Matroska file whose first frames cannot be decoded (cut from a longer stream) had the
# analysis go on to a later in-band SPS of 16000x16000 (85 MB before the decoder's limit
# refused it). The count bounds the time a file of many tiny packets takes.
MAX_PACKETS = 4096
_SPS_ARRAY = 33  # HEVC NAL unit type of an hvcC array that holds SPS units


def map_sps_units(codec: str, record: bytes, replace: Callable[[bytes], bytes]) -> bytes:
    """Walk an avcC (H.264) or hvcC (HEVC) configuration record: every SPS unit goes through
    `replace`, and the record comes back rebuilt around what it returns (other units and the
    header as they were). A record cut short ends the walk; its rest is kept as it is. The one
    reader of the record layout: the guard collects the units with it, the fuzzer rewrites
    them (`extras.fuzz.sps`)."""

    def units(at: int, count: int, sps: bool) -> tuple[bytearray, int, bool]:
        """`count` units stored as (16-bit length, bytes) from `at`: rebuilt, where they end,
        and whether all were whole."""
        out = bytearray()
        for _ in range(count):
            length = int.from_bytes(record[at : at + 2], "big")
            unit = record[at + 2 : at + 2 + length]
            if len(unit) < length:
                return out, at, False
            unit = replace(unit) if sps else unit
            out += len(unit).to_bytes(2, "big") + unit
            at += 2 + length
        return out, at, True

    if codec == "h264" and len(record) >= 7:
        body, at, _ = units(6, record[5] & 0x1F, True)
        return bytes(record[:6] + body + record[at:])
    if codec == "hevc" and len(record) >= 23:
        out, at = bytearray(record[:23]), 23
        for _ in range(record[22]):
            if at + 3 > len(record):
                break
            kind, count = record[at] & 0x3F, int.from_bytes(record[at + 1 : at + 3], "big")
            body, end, whole = units(at + 3, count, kind == _SPS_ARRAY)
            out += record[at : at + 3] + body
            at = end
            if not whole:
                break
        return bytes(out + record[at:])
    return bytes(record)


def config_record_units(codec: str, extradata: bytes) -> tuple[list[bytes], int]:
    """The SPS units of an avcC (H.264) or hvcC (HEVC) configuration record, and the size in
    bytes of the length field before each unit in the stream's packets."""
    units: list[bytes] = []
    map_sps_units(codec, extradata, lambda unit: units.append(unit) or unit)
    if codec == "h264" and len(extradata) >= 7:
        return units, (extradata[4] & 3) + 1
    if codec == "hevc" and len(extradata) >= 23:
        return units, (extradata[21] & 3) + 1
    return units, 4


def _stream_sizes(container, stream) -> Iterator[SpsSize]:
    codec = stream.codec_context.name
    extradata = bytes(stream.codec_context.extradata or b"")
    length_size = 4
    if extradata[:1] == b"\x01":  # a configuration record, not Annex-B
        units, length_size = config_record_units(codec, extradata)
    else:
        units = list(annexb_nals(extradata))
    for nal in units:
        if (size := nal_sps_size(nal, codec)) is not None:
            yield size
    read = 0
    try:
        for count, packet in enumerate(container.demux(stream)):
            read += packet.size
            if count >= MAX_PACKETS or read > SCAN_BYTES:
                break
            for nal in sps_units(bytes(packet), codec, length_size):
                if (size := nal_sps_size(nal, codec)) is not None:
                    yield size
    except (av.FFmpegError, OSError):
        return  # damaged further on: what was read is checked, the real opening says the rest


def sps_units(data: bytes, codec: str, length_size: int = 4) -> Iterator[bytes]:
    """The SPS units of one packet (Annex-B, or MP4-style with `length_size`-byte lengths),
    each NAL unit's header read in place: the other units, slices among them, are not
    copied."""
    if data[:3] == b"\x00\x00\x01" or data[:4] == b"\x00\x00\x00\x01":
        start = data.find(b"\x00\x00\x01")
        while start != -1:
            begin = start + 3
            start = data.find(b"\x00\x00\x01", begin)
            if begin < len(data) and is_sps_header(data[begin], codec):
                yield data[begin : len(data) if start == -1 else start].rstrip(b"\x00")
        return
    at = 0
    while at + length_size < len(data):
        length = int.from_bytes(data[at : at + length_size], "big")
        at += length_size
        if not length or at + length > len(data):
            return
        if is_sps_header(data[at], codec):
            yield data[at : at + length]
        at += length


def guarded_frames(container, stream, path: str | Path, max_pixels: int) -> Iterator:
    """`container.decode(stream)`, with each H.264 / HEVC packet checked before the decoder
    gets it: an SPS over `max_pixels` anywhere in the stream is refused as the header guards
    refuse one at its start. The decoder's own pixel limit (`max_pixels` in its options)
    refuses such a frame too, but only after the decoder has sized its tables for it (170 MB
    for 16000x16000 H.264), and the decoding that describes a file (its first frame, for the
    rotation) had no limit at all: an MP4 or Matroska file whose first decodable frame comes
    after the packets the header guard reads, with an in-band SPS of 16000x16000, took 1.7 GB
    there."""
    codec = stream.codec_context.name if stream.codec_context is not None else ""
    length_size = 4
    extradata = bytes(stream.codec_context.extradata or b"") if codec else b""
    if extradata[:1] == b"\x01":
        length_size = config_record_units(codec, extradata)[1]
    for packet in container.demux(stream):
        if codec in ("h264", "hevc") and packet.size:
            for unit in sps_units(bytes(packet), codec, length_size):
                if (size := nal_sps_size(unit, codec)) is not None:
                    refuse_size(path, size.width, size.height, max_pixels)
        yield from packet.decode()


def header_sizes(path: str | Path) -> list[tuple[int, int]]:
    """(width, height) of every frame size the video streams of `path` declare before
    decoding: the size FFmpeg's parsers report, and each H.264 / HEVC SPS in the streams'
    extradata and the packets opening may decode. Empty when FFmpeg cannot open the file (the real opening
    then says why)."""
    sizes: list[tuple[int, int]] = []
    try:
        with av.open(str(path), options=_DEMUX_ONLY) as container:
            for stream in container.streams.video:
                ctx = stream.codec_context
                if ctx is None:
                    continue
                sizes.append((ctx.width, ctx.height))
                if ctx.name in ("h264", "hevc"):
                    sizes += [(s.width, s.height) for s in _stream_sizes(container, stream)]
    except (av.FFmpegError, OSError, UnicodeDecodeError, ValueError):
        pass
    return sizes


def refuse_huge_headers(path: str | Path, max_pixels: int) -> None:
    """Raise `PatchVSRError` when a video stream of `path` declares a frame over `max_pixels`
    in its headers or the packets opening may decode (see the module docstring)."""
    for width, height in header_sizes(path):
        refuse_size(path, width, height, max_pixels)


__all__ = [
    "MAX_PACKETS",
    "config_record_units",
    "guarded_frames",
    "header_sizes",
    "map_sps_units",
    "refuse_huge_headers",
    "sps_units",
]
