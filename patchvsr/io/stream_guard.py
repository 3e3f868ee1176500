"""Refuse H.264 / HEVC streams whose headers declare a frame too large, before FFmpeg opens them.

Opening a file runs FFmpeg's stream analysis, which decodes the first frames to learn their
size. For containers that list their streams up front (MP4, MOV, Matroska) the decoders get our
pixel limit as an option and refuse a huge frame themselves. MPEG-TS and raw elementary streams
(`.h264`, `.hevc`) announce no stream before the analysis, so the option never reaches their
decoders: a 16000x16000 sequence header made `av.open` allocate 80 MB (H.264) or 200 MB (HEVC)
for it. So for those two kinds we read the sequence parameter sets (SPS) ourselves from the
first bytes that the analysis would read, and refuse a size over the limit before FFmpeg sees
the file. (Other containers, MPEG program streams among them, are checked by
`container_guard`, with FFmpeg demuxing only.)

Only what the check needs is parsed: the TS packet layer and the PAT/PMT tables (to know which
packets carry H.264/HEVC video), Annex-B start codes, and an SPS up to its size fields.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from patchvsr.errors import PatchVSRError

# FFmpeg's stream analysis reads at most this much (`probesize`, 5 MB by default).
SCAN_BYTES = 5_000_000
TS_PACKET = 188
_TS_SYNC = 0x47
_TS_VIDEO_TYPES = {0x1B: "h264", 0x24: "hevc"}  # PMT stream_type values
_H264_SPS, _HEVC_SPS = 7, 33
# H.264 profiles whose SPS carries chroma format and bit depth (spec 7.3.2.1.1).
_H264_HIGH_PROFILES = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}


@dataclass(frozen=True)
class SpsSize:
    """The coded frame size an SPS declares, and where its two size fields lie in the SPS's
    payload (bit offsets `(start, end)` of each Exp-Golomb code, emulation bytes removed)."""

    codec: str
    width: int
    height: int
    width_bits: tuple[int, int]
    height_bits: tuple[int, int]


class _Bits:
    """Big-endian bit reader with Exp-Golomb codes; reading past the end raises EOFError."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def u(self, n: int) -> int:
        value = 0
        for _ in range(n):
            if self.pos >= 8 * len(self.data):
                raise EOFError
            value = (value << 1) | (self.data[self.pos >> 3] >> (7 - (self.pos & 7))) & 1
            self.pos += 1
        return value

    def ue(self) -> int:
        zeros = 0
        while not self.u(1):
            zeros += 1
            if zeros > 31:
                raise EOFError  # not a valid code: no value needs more than 32 bits
        return (1 << zeros) - 1 + self.u(zeros)


def unescape(nal: bytes) -> bytes:
    """A NAL unit's payload without its emulation-prevention bytes (00 00 03 -> 00 00)."""
    out = bytearray()
    zeros = 0
    for byte in nal:
        if zeros >= 2 and byte == 3:
            zeros = 0
            continue
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


def _skip_scaling_lists(bits: _Bits, count: int) -> None:
    for i in range(count):
        if bits.u(1):
            last = next_ = 8
            for _ in range(16 if i < 6 else 64):
                if next_:
                    delta = bits.ue()
                    delta = (delta + 1) // 2 if delta % 2 else -(delta // 2)
                    next_ = (last + delta + 256) % 256
                last = next_ or last


def h264_sps_size(rbsp: bytes) -> SpsSize:
    """Parse an H.264 SPS payload (after the one-byte NAL header) up to its frame size."""
    bits = _Bits(rbsp)
    profile = bits.u(8)
    bits.u(16)  # constraint flags, level
    bits.ue()  # seq_parameter_set_id
    if profile in _H264_HIGH_PROFILES:
        chroma = bits.ue()
        if chroma == 3:
            bits.u(1)
        bits.ue(), bits.ue(), bits.u(1)  # bit depths, qpprime_y_zero_transform_bypass
        if bits.u(1):
            _skip_scaling_lists(bits, 12 if chroma == 3 else 8)
    bits.ue()  # log2_max_frame_num_minus4
    poc_type = bits.ue()
    if poc_type == 0:
        bits.ue()
    elif poc_type == 1:
        bits.u(1), bits.ue(), bits.ue()
        for _ in range(min(bits.ue(), 255)):
            bits.ue()
    bits.ue(), bits.u(1)  # max_num_ref_frames, gaps_in_frame_num_allowed
    w0 = bits.pos
    mbs_wide = bits.ue() + 1
    h0 = bits.pos
    map_units_high = bits.ue() + 1
    h1 = bits.pos
    frames_only = bits.u(1)
    return SpsSize(
        "h264", 16 * mbs_wide, 16 * map_units_high * (2 - frames_only), (w0, h0), (h0, h1)
    )


def hevc_sps_size(rbsp: bytes) -> SpsSize:
    """Parse an HEVC SPS payload (after the two-byte NAL header) up to its frame size."""
    bits = _Bits(rbsp)
    bits.u(4)  # sps_video_parameter_set_id
    sub_layers = bits.u(3)
    bits.u(1)
    bits.u(88 + 8)  # general profile_tier_level, general_level_idc
    present = [(bits.u(1), bits.u(1)) for _ in range(sub_layers)]
    if sub_layers:
        bits.u(2 * (8 - sub_layers))
    for profile_present, level_present in present:
        bits.u(88 * profile_present + 8 * level_present)
    bits.ue()  # sps_seq_parameter_set_id
    if bits.ue() == 3:  # chroma_format_idc
        bits.u(1)
    w0 = bits.pos
    width = bits.ue()
    h0 = bits.pos
    height = bits.ue()
    return SpsSize("hevc", width, height, (w0, h0), (h0, bits.pos))


def annexb_nals(data: bytes) -> Iterator[bytes]:
    """The NAL units (header included) of an Annex-B byte stream, split at start codes."""
    start = data.find(b"\x00\x00\x01")
    while start != -1:
        begin = start + 3
        start = data.find(b"\x00\x00\x01", begin)
        end = len(data) if start == -1 else start
        yield data[begin:end].rstrip(b"\x00")  # trailing zeros belong to the next start code


def is_sps_header(byte: int, codec: str) -> bool:
    """Whether a NAL unit of `codec` whose first byte is `byte` is an SPS."""
    if codec == "h264":
        return byte & 0x1F == _H264_SPS
    return codec == "hevc" and (byte >> 1) & 0x3F == _HEVC_SPS


def nal_sps_size(nal: bytes, codec: str) -> SpsSize | None:
    """The size that `nal` (a NAL unit of `codec`, "h264" or "hevc", header included)
    declares, when it is an SPS that parses; else None."""
    try:
        if nal and is_sps_header(nal[0], codec):
            return (h264_sps_size if codec == "h264" else hevc_sps_size)(
                unescape(nal[1 if codec == "h264" else 2 :])
            )
    except EOFError:
        pass  # cut short: FFmpeg cannot use it either
    return None


def sps_sizes(stream: bytes, codec: str) -> Iterator[SpsSize]:
    """Every SPS of an Annex-B `stream` of `codec` ("h264" or "hevc") that parses."""
    for nal in annexb_nals(stream):
        if (size := nal_sps_size(nal, codec)) is not None:
            yield size


def _ts_payloads(data: bytes) -> Iterator[tuple[int, bool, bytes]]:
    """(pid, payload_unit_start, payload) of each 188-byte MPEG-TS packet."""
    for offset in range(0, len(data) - TS_PACKET + 1, TS_PACKET):
        packet = data[offset : offset + TS_PACKET]
        if packet[0] != _TS_SYNC:
            continue
        pid = (packet[1] & 0x1F) << 8 | packet[2]
        control = (packet[3] >> 4) & 3
        if not control & 1:
            continue  # adaptation field only
        begin = 4 + (1 + packet[4] if control & 2 else 0)
        if begin < TS_PACKET:
            yield pid, bool(packet[1] & 0x40), packet[begin:]


def _pes_data(payload: bytes, unit_start: bool) -> bytes:
    """A PES packet's data without its header (which the packet that starts it carries)."""
    if unit_start and payload[:3] == b"\x00\x00\x01" and len(payload) >= 9:
        return payload[9 + payload[8] :]
    return payload


def _section(payload: bytes, unit_start: bool) -> bytes:
    return payload[1 + payload[0] :] if unit_start and payload else b""


def ts_video_streams(data: bytes) -> dict[str, bytes]:
    """The H.264 and HEVC elementary streams of an MPEG-TS prefix, by codec: the data of the
    packets that the PMT lists as such video."""
    pmt_pids: set[int] = set()
    video: dict[int, str] = {}
    streams: dict[str, bytearray] = {}
    for pid, unit_start, payload in _ts_payloads(data):
        if pid in video:
            streams.setdefault(video[pid], bytearray()).extend(_pes_data(payload, unit_start))
        elif pid == 0 and (table := _section(payload, unit_start)):
            end = min(len(table), 3 + ((table[1] & 0x0F) << 8 | table[2]) - 4)
            for i in range(8, end - 3, 4):
                if table[i : i + 2] != b"\x00\x00":  # program 0 is the network table
                    pmt_pids.add((table[i + 2] & 0x1F) << 8 | table[i + 3])
        elif pid in pmt_pids and (table := _section(payload, unit_start)) and len(table) > 12:
            end = min(len(table), 3 + ((table[1] & 0x0F) << 8 | table[2]) - 4)
            i = 12 + ((table[10] & 0x0F) << 8 | table[11])
            while i + 5 <= end:
                kind, es_pid = table[i], (table[i + 1] & 0x1F) << 8 | table[i + 2]
                if kind in _TS_VIDEO_TYPES:
                    video[es_pid] = _TS_VIDEO_TYPES[kind]
                i += 5 + ((table[i + 3] & 0x0F) << 8 | table[i + 4])
    return {codec: bytes(stream) for codec, stream in streams.items()}


def _is_ts(head: bytes) -> bool:
    return len(head) >= 2 * TS_PACKET and all(
        head[i] == _TS_SYNC for i in range(0, min(len(head), 4 * TS_PACKET), TS_PACKET)
    )


def raw_stream_codec(head: bytes) -> str | None:
    """ "h264" or "hevc" when the first NAL unit in `head` opens such an Annex-B stream (a
    parameter set, an access unit delimiter or SEI), else None. Only the first unit counts:
    other streams with start codes (MPEG-1/2 video and program streams) hold units whose
    type byte reads as an H.264 or HEVC SPS further on, and parsing those as sizes would refuse
    valid files."""
    nal = next(annexb_nals(head[:65536]), b"")
    if len(nal) < 2 or nal[0] & 0x80:
        return None
    if (nal[0] >> 1) & 0x3F in (32, 33, 34, 35, 39) and nal[1] & 0x07:
        return "hevc"  # VPS, SPS, PPS, access unit delimiter, SEI; temporal id plus 1 > 0
    if nal[0] & 0x1F in (6, 7, 8, 9):
        return "h264"  # SEI, SPS, PPS, access unit delimiter
    return None


def declared_streams(path: str | Path) -> list[SpsSize]:
    """The frame sizes that the SPS units at the start of an MPEG-TS or raw H.264/HEVC file
    declare; empty for any other kind of file."""
    with open(path, "rb") as file:
        head = file.read(65536)
        if _is_ts(head):
            streams = ts_video_streams(head + file.read(SCAN_BYTES - len(head)))
        elif codec := raw_stream_codec(head):
            streams = {codec: head + file.read(SCAN_BYTES - len(head))}
        else:
            return []
    return [size for codec, stream in streams.items() for size in sps_sizes(stream, codec)]


def refuse_huge_streams(path: str | Path, max_pixels: int) -> None:
    """Raise `PatchVSRError` when an SPS at the start of an MPEG-TS or raw H.264/HEVC file
    declares a frame over `max_pixels` (see the module docstring)."""
    for size in declared_streams(path):
        refuse_size(path, size.width, size.height, max_pixels)


def refuse_size(path: str | Path, width: int, height: int, max_pixels: int) -> None:
    """The guards' one refusal: raise `PatchVSRError` when `width` x `height` is over
    `max_pixels`."""
    if width * height > max_pixels:
        raise PatchVSRError(
            f"cannot read {path}: declared frame size {width}x{height} exceeds the limit of "
            f"{max_pixels} pixels"
        )


__all__ = [
    "SCAN_BYTES",
    "SpsSize",
    "annexb_nals",
    "declared_streams",
    "h264_sps_size",
    "hevc_sps_size",
    "is_sps_header",
    "nal_sps_size",
    "raw_stream_codec",
    "refuse_huge_streams",
    "refuse_size",
    "sps_sizes",
    "ts_video_streams",
    "unescape",
]
