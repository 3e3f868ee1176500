"""What keeps a one-step model from flickering more than its input: one noise field for the
whole clip (`clip_noise`), and its added detail averaged over time where the picture stands
still (`steady_detail`). The windows themselves are planned in `patchvsr.method.temporal`.
"""

from __future__ import annotations

import torch

from patchvsr.luma import LUMA


def clip_noise(
    shape: tuple[int, ...], generator: torch.Generator | None, salt: int = 0
) -> torch.Tensor:
    """Gaussian noise of `shape` (B, C, F, h, w) on the CPU: one field, repeated over the F
    frames, and the same field for every window of a clip.

    A one-step model predicts the clean frame from pure noise; what it adds depends a little on
    that noise, so fresh noise per frame makes the added detail flicker even where the picture
    stands still, and a new window's fresh noise makes it jump at the window's first frames.
    One field for the whole clip removes both (PatchVSR-mini's temporal consistency on the
    held-out video set: 1.98 with fresh noise, 1.71 with one field; bicubic's 1.75). It is drawn from a generator seeded with
    `generator`'s initial seed plus `salt` (the global seed without one), so it does not
    depend on how many windows or draws came before; `salt` tells apart the fields of one
    call (the start noise, the condition's augmentation)."""
    seed = (generator.initial_seed() if generator is not None else torch.initial_seed()) + salt
    field = torch.randn((*shape[:2], 1, *shape[3:]), generator=torch.Generator().manual_seed(seed))
    return field.expand(shape).contiguous()


def steady_detail(
    out: torch.Tensor,
    upscaled: torch.Tensor,
    lr: torch.Tensor,
    radius: int = 2,
    tau: float = 4.0,
    box: int = 3,
) -> torch.Tensor:
    """`out` (B, 3, F, H, W) in [-1, 1] with the detail it adds over `upscaled` (the bicubic
    upscale of `lr`, (B, 3, F, h, w)) averaged over time where the picture does not change.

    Each frame's detail becomes a weighted mean of the detail of the frames up to `radius`
    away, a frame weighing exp(-(d / tau)^2), where d is the mean absolute change of the
    input's luma (8-bit levels) over a `box` x `box` window of input pixels, resized to the
    output: a still area takes the mean of its neighbours' detail, a moving one keeps its own.
    The model adds detail to each frame on its own, so where the input flickers a little
    (sensor noise, a codec's artefacts) its detail flickers more; the upscale itself is kept as
    it is. The weights are found on the input's pixels, which costs little next to the
    output's."""
    luma = torch.tensor(LUMA, dtype=out.dtype, device=out.device)
    y = torch.einsum("bcfhw,c->bfhw", lr.to(out.dtype), luma) * 127.5
    detail = out - upscaled
    frames, size = out.shape[2], out.shape[-2:]

    def weight(t: int, k: int) -> torch.Tensor:  # on the input's pixels
        change = (y[:, t] - y[:, k]).abs()[:, None]
        d = torch.nn.functional.avg_pool2d(change, box, 1, box // 2, count_include_pad=False)
        return torch.exp(-((d / tau) ** 2))

    def resize(w: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.interpolate(w, size=size, mode="bilinear")

    # Each pair's weight is found once, resized once, and kept while a frame still needs it.
    near = {(t, k): weight(t, k) for t in range(frames) for k in range(t + 1, frames)[:radius]}
    resized: dict[tuple[int, int], torch.Tensor] = {}
    steady = torch.empty_like(detail)
    for t in range(frames):
        others = [k for k in range(max(0, t - radius), min(frames, t + radius + 1)) if k != t]
        pairs = [(min(t, k), max(t, k)) for k in others]
        resized = {p: resized[p] if p in resized else resize(near[p]) for p in pairs}
        # bilinear resizing is linear: the resized sum of the weights is the sum of the resized
        total = resize(1 + sum(near[p] for p in pairs))
        acc = detail[:, :, t].clone()
        for k, p in zip(others, pairs, strict=True):
            acc.addcmul_(resized[p], detail[:, :, k])
        steady[:, :, t] = acc.div_(total)
    return (upscaled + steady).clamp(-1, 1)
