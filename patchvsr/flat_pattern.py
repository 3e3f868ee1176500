"""Does an upscaler add a periodic pattern to flat areas? The spectrum at a codec's pitch.

Mini's autoencoder is a space-to-depth by 4 (`PixelUnshuffleCodec`): every latent cell is a
4x4 block of output pixels, so a model that treats a cell's 16 positions unevenly leaves a
texture that repeats every 4 pixels, visible on flat walls and skies. Such a pattern puts
energy at the spatial frequencies k / pitch (cycles per pixel); natural flat content and a
bicubic upscale put almost none there.

`pitch_peak` is the ratio of the high-passed output's spectral power at those frequencies to
the power of their neighbouring frequencies (1: no peak). Comparing a model's ratio with
bicubic's on the same flat input answers "no added pattern".
"""

from __future__ import annotations

import numpy as np

from patchvsr.luma import LUMA


def _luma(frames: np.ndarray) -> np.ndarray:
    rgb = frames.astype(np.float64)
    return LUMA[0] * rgb[..., 0] + LUMA[1] * rgb[..., 1] + LUMA[2] * rgb[..., 2]


def _high_pass(y: np.ndarray, size: int = 9) -> np.ndarray:
    """Each frame minus its size x size box average (separable, edge-padded): what is left is
    fine texture, without the slow shading that would dominate the spectrum."""
    pad = size // 2
    padded = np.pad(y, ((0, 0), (pad, pad), (pad, pad)), mode="edge")
    c = np.cumsum(np.cumsum(padded, axis=1), axis=2)
    c = np.pad(c, ((0, 0), (1, 0), (1, 0)))
    box = c[:, size:, size:] - c[:, :-size, size:] - c[:, size:, :-size] + c[:, :-size, :-size]
    return y - box / size**2


def pitch_peak(frames: np.ndarray, pitch: int = 4) -> float:
    """(F, H, W, 3) uint8 -> power at the frequencies k / pitch (k = 1 .. pitch - 1, on either
    axis and both) over the mean power of the 8 frequency bins around each; 1: no peak."""
    y = _high_pass(_luma(frames))
    f, h, w = y.shape
    h, w = h // pitch * pitch, w // pitch * pitch
    window = np.outer(np.hanning(h), np.hanning(w))
    power = np.mean(np.abs(np.fft.fft2(y[:, :h, :w] * window)) ** 2, axis=0)
    ys = [k * h // pitch for k in range(pitch)]
    xs = [k * w // pitch for k in range(pitch)]
    peak, around = 0.0, 0.0
    for py in ys:
        for px in xs:
            if py == 0 and px == 0:
                continue
            peak += power[py, px]
            ring = [
                power[(py + dy) % h, (px + dx) % w]
                for dy in (-2, 0, 2)
                for dx in (-2, 0, 2)
                if dy or dx
            ]
            around += float(np.mean(ring))
    return float(peak / max(around, 1e-12))


def pattern_amplitude(frames: np.ndarray, pitch: int = 4) -> float:
    """The root-mean-square, in 8-bit levels of Y, of the part of (F, H, W, 3) uint8 frames'
    fine texture that repeats every `pitch` pixels: the high-passed frames averaged over all
    cells of `pitch` x `pitch` pixels and frames, less that average's mean. Noise and real
    texture average out (to about their level over the square root of the number of cells);
    a fixed pattern does not."""
    y = _high_pass(_luma(frames))
    f, h, w = y.shape
    h, w = h // pitch * pitch, w // pitch * pitch
    cells = y[:, :h, :w].reshape(f, h // pitch, pitch, w // pitch, pitch).mean(axis=(0, 1, 3))
    return float(np.sqrt(np.mean((cells - cells.mean()) ** 2)))


def _gaussian_high_pass(y: np.ndarray, sigma: float = 2.0) -> np.ndarray:
    """Each frame minus its Gaussian blur (separable, edge-padded): the finest texture."""
    radius = int(3 * sigma + 0.5)
    taps = np.exp(-(np.arange(-radius, radius + 1) ** 2) / (2 * sigma * sigma))
    taps /= taps.sum()
    blurred = y
    for axis in (1, 2):
        pad = [(0, 0)] * 3
        pad[axis] = (radius, radius)
        padded = np.pad(blurred, pad, mode="edge")
        n = y.shape[axis]
        blurred = sum(
            w * np.take(padded, np.arange(i, i + n), axis=axis) for i, w in enumerate(taps)
        )
    return y - blurred


def _block_std(y: np.ndarray, block: int) -> np.ndarray:
    f, h, w = y.shape
    h, w = h // block * block, w // block * block
    return y[:, :h, :w].reshape(f, h // block, block, w // block, block).std(axis=(2, 4)).ravel()


def flat_grain(
    frames: np.ndarray, reference: np.ndarray, share: float = 0.3, block: int = 16
) -> float:
    """How grainy an upscale's flat areas are, in 8-bit levels of Y: the standard deviation of
    its finest texture (Y less its Gaussian blur, sigma 2) in each `block` x `block` block, the
    median over the flattest `share` of the blocks. Flatness is read from `reference` (the
    same size: bicubic's upscale), so every method is measured on the same blocks. (F, H, W, 3)
    uint8 both; a method at or under bicubic's figure adds no grain there."""
    flatness = _block_std(_luma(reference), block)
    chosen = flatness <= np.quantile(flatness, share)
    return float(np.median(_block_std(_gaussian_high_pass(_luma(frames)), block)[chosen]))
