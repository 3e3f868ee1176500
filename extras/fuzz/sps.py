"""Rewrite the frame size that an H.264 / HEVC sequence parameter set (SPS) declares.

A sequence header that declares a huge frame is how an MPEG-TS, program-stream, raw-stream or
MP4 / Matroska header bomb is made: the fuzzer and the tests build them from small, valid
streams with `with_frame_size`.
"""

from __future__ import annotations

from patchvsr.io.container_guard import map_sps_units
from patchvsr.io.stream_guard import annexb_nals, h264_sps_size, hevc_sps_size, unescape


def _bits(data: bytes) -> str:
    return "".join(f"{byte:08b}" for byte in data)


def _ue(value: int) -> str:
    code = f"{value + 1:b}"
    return "0" * (len(code) - 1) + code


def _escape(rbsp: bytes) -> bytes:
    """Insert emulation-prevention bytes: no 00 00 0x (x <= 3) may appear in a NAL unit."""
    out = bytearray()
    zeros = 0
    for byte in rbsp:
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


def sps_with_size(nal: bytes, codec: str, width: int, height: int) -> bytes:
    """An SPS NAL unit (header included) like `nal` but declaring `width` x `height`."""
    header = 1 if codec == "h264" else 2
    rbsp = unescape(nal[header:])
    size = (h264_sps_size if codec == "h264" else hevc_sps_size)(rbsp)
    if codec == "h264":  # in macroblocks (16 px), minus one; the height per field or frame
        fields = _ue(-(-width // 16) - 1) + _ue(-(-height // 16) - 1)
    else:
        fields = _ue(width) + _ue(height)
    bits = _bits(rbsp)
    bits = bits[: size.width_bits[0]] + fields + bits[size.height_bits[1] :]
    bits = bits.rstrip("0")  # the stop bit stays; realign the zero padding after it
    bits += "0" * (-len(bits) % 8)
    payload = int(bits, 2).to_bytes(len(bits) // 8, "big")
    return nal[:header] + _escape(payload)


def with_frame_size(stream: bytes, codec: str, width: int, height: int) -> bytes:
    """An Annex-B `stream`, or an avcC / hvcC configuration record (MP4 and Matroska keep the
    parameter sets there), with every SPS rewritten to declare `width` x `height`."""
    if stream[:1] == b"\x01":  # a record; an Annex-B stream starts with a start code
        return map_sps_units(codec, stream, lambda unit: sps_with_size(unit, codec, width, height))
    out = bytearray()
    for nal in annexb_nals(stream):
        is_sps = nal and (nal[0] & 0x1F == 7 if codec == "h264" else (nal[0] >> 1) & 0x3F == 33)
        out += b"\x00\x00\x00\x01" + (sps_with_size(nal, codec, width, height) if is_sps else nal)
    return bytes(out)


__all__ = ["sps_with_size", "with_frame_size"]
