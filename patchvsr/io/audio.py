"""Carrying the input's audio into a written video: a copy-only remux when the output
container takes the codec, a re-encode (AAC where the container allows) otherwise."""

from __future__ import annotations

from pathlib import Path

import av

from patchvsr.errors import PatchVSRError
from patchvsr.io.probe import open_input

# Audio codecs to re-encode to when the output container cannot hold the input's, in order
# of preference: (codec name the muxer knows, encoder, sample rates it takes or None for any).
_AUDIO_FALLBACKS = (
    ("aac", "aac", None),
    ("opus", "libopus", (48000, 24000, 16000, 12000, 8000)),
    ("vorbis", "libvorbis", None),
    ("mp3", "libmp3lame", (48000, 44100, 32000, 24000, 22050, 16000)),
    ("flac", "flac", None),
)


def _audio_fallback(supported: set[str], rate: int) -> tuple[str, int] | None:
    """(encoder, sample rate) for re-encoding audio into a container, or None."""
    for name, encoder, rates in _AUDIO_FALLBACKS:
        if name in supported and encoder in av.codecs_available:
            if rates is not None and rate not in rates:
                rate = rates[0]
            return encoder, rate
    return None


class _AudioCopier:
    """Copies the first audio stream of `source` into `output`, interleaved with the video.

    The packets are remuxed untouched when the output container takes the codec; otherwise
    the audio is re-encoded (AAC where the container allows). `pump(t)` writes everything up
    to time `t` (seconds), so the muxer never buffers more than a moment of either stream."""

    def __init__(self, source: Path, output: av.container.OutputContainer) -> None:
        self.input = open_input(source)
        self.output = output
        self.src = self.input.streams.audio[0]
        self.copy = self.src.codec_context.name in output.supported_codecs
        self.note = ""
        if self.copy:
            self.dst = output.add_stream_from_template(self.src)
        else:
            rate = self.src.codec_context.sample_rate or 48000
            choice = _audio_fallback(output.supported_codecs, rate)
            if choice is None:
                self.input.close()
                raise PatchVSRError("no audio codec this container can hold is available")
            encoder, rate = choice
            # Mono and stereo stay as they are; more channels are mixed down to stereo, the
            # one layout every player and encoder takes.
            layout = "mono" if (self.src.codec_context.channels or 2) == 1 else "stereo"
            self.dst = output.add_stream(encoder, rate=rate)
            self.dst.layout = layout
            fmt = self.dst.codec_context.codec.audio_formats[0].name
            self.resampler = av.AudioResampler(format=fmt, layout=layout, rate=rate)
            self.note = (
                f"audio re-encoded from {self.src.codec_context.name} to {encoder} "
                "(the output container cannot hold the original)"
            )
        self.packets = self.input.demux(self.src)
        self.pending: av.Packet | None = None
        self.done = False
        self.flushed = False

    def _next(self) -> av.Packet | None:
        if self.pending is not None:
            packet, self.pending = self.pending, None
            return packet
        for packet in self.packets:
            if packet.dts is not None or packet.size:
                return packet
        return None

    def pump(self, until: float | None) -> None:
        while not self.done:
            packet = self._next()
            if packet is None or packet.size == 0:
                self.done = True
                break
            if until is not None and packet.pts is not None and packet.time_base:
                if float(packet.pts * packet.time_base) > until:
                    self.pending = packet
                    return
            self._write(packet)
        if self.done and not self.copy and not self.flushed:
            self.flushed = True
            for frame in self.src.decode(None):  # samples the decoder still holds
                frame.pts = None
                for resampled in self.resampler.resample(frame):
                    for out in self.dst.encode(resampled):
                        self.output.mux(out)
            for resampled in self.resampler.resample(None):
                for out in self.dst.encode(resampled):
                    self.output.mux(out)
            for out in self.dst.encode(None):
                self.output.mux(out)

    def _write(self, packet: av.Packet) -> None:
        if self.copy:
            packet.stream = self.dst
            self.output.mux(packet)
            return
        for frame in packet.decode():
            frame.pts = None
            for resampled in self.resampler.resample(frame):
                for out in self.dst.encode(resampled):
                    self.output.mux(out)

    def close(self) -> None:
        self.input.close()


def mux_with_audio(video_path: Path, audio_source: Path, output_path: Path) -> str:
    """Remux the video-only file `video_path` with the audio of `audio_source` into
    `output_path`, interleaved by time. Returns a note for the user ("" when the audio was
    copied untouched)."""
    with open_input(video_path) as video, av.open(str(output_path), mode="w") as output:
        src = video.streams.video[0]
        dst = output.add_stream_from_template(src)
        audio = _AudioCopier(audio_source, output)
        try:
            for packet in video.demux(src):
                if packet.dts is None:
                    continue  # the demuxer's end-of-stream marker
                audio.pump(float(packet.dts * packet.time_base))
                packet.stream = dst
                output.mux(packet)
            audio.pump(None)
        finally:
            audio.close()
        return audio.note
