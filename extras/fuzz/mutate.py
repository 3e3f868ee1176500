"""Mutations of a valid file, reproducible from a case id.

A case is `(seed name, number)`, written `mp4-17`; its mutations come from a random generator
seeded with that id, so the same id gives the same file wherever it runs (given the same
seeds). One to three mutations are stacked:

- flip: a few bits flipped anywhere;
- overwrite: a run of bytes replaced by random bytes, zeros or 0xFF;
- truncate: the file cut short;
- splice: a unit of the file (a box, element, chunk, segment, block, packet or NAL unit)
  deleted, repeated, moved, or replaced by a unit of another seed;
- size: a length or frame-size field set to 0, 1, a neighbour of its value, or a huge value
  (a PNG chunk's CRC is recomputed so the bomb is not caught by its checksum);
- sps: (H.264/HEVC streams) the sequence header declares a huge or odd frame size, and the
  packets are muxed again, so the container around the bomb is intact. Where the seed
  repeats its parameter sets in-band, a later one may be the bomb, after frames whose
  references are missing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from extras.fuzz.seeds import Seed
from extras.fuzz.sps import with_frame_size
from extras.fuzz.structure import Field, fix_crc, layout
from patchvsr.io.container_guard import sps_units

# Declared frame sizes for the sps mutation: over the pixel limit, absurd, odd, and one that
# is allowed but large (decoding must still stay within the memory and time budgets).
SPS_SIZES = ((16000, 16000), (65520, 64), (64, 65520), (20000, 9000), (4096, 2304), (16, 16),
             (1, 1), (8, 4000), (30000, 30000))  # fmt: skip


@dataclass(frozen=True)
class Case:
    seed: str
    number: int

    @property
    def id(self) -> str:
        return f"{self.seed}-{self.number}"


def _flip(data: bytearray, rng: random.Random, seeds: dict[str, Seed]) -> str:
    count = rng.randint(1, 16)
    for _ in range(count):
        at = rng.randrange(len(data))
        data[at] ^= 1 << rng.randrange(8)
    return f"flip {count} bits"


def _overwrite(data: bytearray, rng: random.Random, seeds: dict[str, Seed]) -> str:
    at, length = rng.randrange(len(data)), rng.randint(1, 64)
    fill = rng.choice(("random", "zeros", "ones"))
    end = min(len(data), at + length)
    if fill == "random":
        data[at:end] = rng.randbytes(end - at)
    else:
        data[at:end] = (b"\x00" if fill == "zeros" else b"\xff") * (end - at)
    return f"overwrite {end - at} bytes at {at} with {fill}"


def _truncate(data: bytearray, rng: random.Random, seeds: dict[str, Seed]) -> str:
    keep = rng.randrange(len(data))
    del data[keep:]
    return f"truncate to {keep} bytes"


def _splice(data: bytearray, rng: random.Random, seeds: dict[str, Seed]) -> str:
    units = layout(bytes(data)).units
    if not units:
        return _overwrite(data, rng, seeds)
    start, end = rng.choice(units)
    unit = bytes(data[start:end])
    how = rng.choice(("delete", "repeat", "move", "foreign"))
    if how == "delete":
        del data[start:end]
    elif how == "repeat":
        data[end:end] = unit * rng.randint(1, 4)
    elif how == "move":
        del data[start:end]
        to = rng.choice(layout(bytes(data)).units or [(0, 0)])[0]
        data[to:to] = unit
    else:
        donor = seeds[rng.choice(sorted(seeds))].data
        donor_units = layout(donor).units or [(0, len(donor))]
        a, b = rng.choice(donor_units)
        data[start:end] = donor[a:b]
    return f"splice: {how} the unit at {start}..{end}"


def _write_field(data: bytearray, spot: Field, value: int) -> None:
    if spot.order == "ebml":  # keep the length marker, set the value bits
        value = min(value, (1 << (7 * spot.length)) - 1)
        value |= 1 << (7 * spot.length)
        data[spot.offset : spot.offset + spot.length] = value.to_bytes(spot.length, "big")
    else:
        value = min(value, (1 << (8 * spot.length)) - 1)
        data[spot.offset : spot.offset + spot.length] = value.to_bytes(spot.length, spot.order)
    if spot.crc is not None:
        fix_crc(data, spot.crc)


def _size(data: bytearray, rng: random.Random, seeds: dict[str, Seed]) -> str:
    fields = [f for f in layout(bytes(data)).fields if f.offset + f.length <= len(data)]
    if not fields:
        return _flip(data, rng, seeds)
    spot = rng.choice(fields)
    old = int.from_bytes(data[spot.offset : spot.offset + spot.length], "big")
    value = rng.choice((0, 1, old - 1, old + 1, 2 * old, 16000, 65535, 1 << 31, (1 << 64) - 1,
                        rng.getrandbits(8 * spot.length)))  # fmt: skip
    _write_field(data, spot, max(0, value))
    return f"size field at {spot.offset} set to {max(0, value)}"


MUTATIONS = {
    "flip": _flip,
    "overwrite": _overwrite,
    "truncate": _truncate,
    "splice": _splice,
    "size": _size,
}


def _sps_bomb(seed: Seed, rng: random.Random) -> tuple[bytes, str]:
    width, height = rng.choice(SPS_SIZES)
    packets = list(seed.packets)
    carriers = _sps_packets(seed)
    if len(carriers) < 2:
        packets[0] = with_frame_size(packets[0], seed.codec, width, height)
        return seed.remux(packets), f"sps declares {width}x{height}"
    # Parameter sets repeated in-band: the bomb may be a later one, and may come after
    # frames cut from a longer stream (their reference frames are missing, so they decode to
    # nothing), enough of them that opening the file decodes past its first 16 packets.
    k = rng.choice(carriers)
    packets[k] = with_frame_size(packets[k], seed.codec, width, height)
    step = f"sps of packet {k} declares {width}x{height}"
    if k and rng.random() < 0.5:
        orphans = rng.randint(17, 40)
        packets = [packets[k - 1]] * orphans + packets[k:]
        step += f", after {orphans} frames whose references are missing"
    return seed.remux(packets), step


def _sps_packets(seed: Seed) -> list[int]:
    """The packets of an Annex-B seed that carry an SPS (none for a seed whose first packet
    is an avcC / hvcC record)."""
    if seed.packets[0][:1] == b"\x01":
        return []
    return [i for i, data in enumerate(seed.packets) if any(sps_units(data, seed.codec))]


def mutated(case: Case, seeds: dict[str, Seed]) -> tuple[bytes, list[str]]:
    """The file of `case` and what was done to make it."""
    seed = seeds[case.seed]
    rng = random.Random(case.id)
    data, steps = seed.data, []
    if seed.packets and rng.random() < 0.25:
        data, step = _sps_bomb(seed, rng)
        steps.append(step)
        if rng.random() < 0.5:
            return data, steps
    buffer = bytearray(data)
    for _ in range(rng.choice((1, 1, 2, 3))):
        if not buffer:
            break
        name = rng.choice(sorted(MUTATIONS))
        # Structured mutations find more than blind ones: give them the larger share.
        if name in ("flip", "overwrite") and rng.random() < 0.4:
            name = rng.choice(("size", "splice"))
        steps.append(MUTATIONS[name](buffer, rng, seeds))
    return bytes(buffer), steps


__all__ = ["MUTATIONS", "SPS_SIZES", "Case", "mutated"]
