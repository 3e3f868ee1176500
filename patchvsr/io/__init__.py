"""Media input and output: one module per job.

- `probe`: what a video file, a folder of frames or an image holds (`VideoInfo`), from its
  headers, with the pixel limit and the one-line errors every reader shares.
- `reader`: the frames themselves, one at a time (`VideoReader`, `read_frames`).
- `output`: where an output may go and what kind it is, checked before any work.
- `writer`: atomic writers for videos, frame folders and images (`open_writer`).
- `audio`: carrying the input's audio into a written video.
- `comparison`: the bicubic-beside-result comparison video.

Conventions
- Frames are `(H, W, 3) uint8` RGB; stacks are `(F, H, W, 3)`.
- Rotation metadata (a display matrix) is *applied* while reading: frames come out upright,
  `VideoInfo.width/height` are the upright size, and outputs are written without rotation.
- Greyscale and 10-bit inputs are converted to 8-bit RGB by the decoder's scaler.
- Timestamps: `pts` is the frame's presentation time in the stream's `time_base` (a
  `Fraction`), kept so that variable-frame-rate inputs come out with the same timing. Image
  inputs get `pts = index` in units of `1/fps`.
- Every failure a user can cause (missing file, not a video, truncated data, an absurd
  declared size) is a `PatchVSRError` with a one-line message, never a raw av/PIL exception.
- Writing is atomic: a temporary file beside the target, renamed at the end, so a crash never
  leaves a truncated file at the output path.
"""
