"""`PatchVSRPipeline`: patch-wise video super-resolution with a video diffusion transformer.

The low-resolution clip is upscaled (bicubic) to the output size and encoded onto one latent
canvas. At every denoising step the model runs on every patch of the grid (base + auxiliary
seam patches, batched by size) and the predictions are fused on the canvas with the grid's
weights (the paper's multi-patch joint modulation), then the scheduler takes one step on the
whole canvas. The global branch sees the whole clip at the base size; it runs once per step
and is shared by all patches.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import DiffusionPipeline, FlowMatchEulerDiscreteScheduler, WanTransformer3DModel
from diffusers.utils import BaseOutput

from patchvsr.codec import LatentCodec
from patchvsr.colorfix import colour_fix
from patchvsr.context import global_view
from patchvsr.errors import PatchVSRError
from patchvsr.grid import PatchPlan, patch_weights, plan_patches
from patchvsr.location import location_encoding, normalized_box
from patchvsr.memory import available_bytes, check_fits, patch_activation_bytes
from patchvsr.models import PatchVSRAdapter, PatchVSRTransformer
from patchvsr.temporal import plan_windows, window_weights

Progress = Callable[[int, int, str], None]


@dataclass
class PatchVSROutput(BaseOutput):
    """`frames`: (F, H, W, 3) uint8 for output_type "np", (1, 3, F, H, W) in [-1, 1] for "pt",
    or the denoised latent canvas (1, C, f, h, w) of a single-window clip for "latent"."""

    frames: np.ndarray | torch.Tensor
    plan: PatchPlan


def to_video_tensor(video) -> torch.Tensor:
    """(F, H, W, 3) uint8 array/tensor, or (1, 3, F, H, W) float in [-1, 1] -> the latter."""
    if isinstance(video, np.ndarray):
        video = torch.from_numpy(np.ascontiguousarray(video))
    if not isinstance(video, torch.Tensor):
        raise PatchVSRError("video must be a (F, H, W, 3) uint8 array or a (1, 3, F, H, W) tensor")
    if video.dtype == torch.uint8:
        if video.ndim != 4 or video.shape[-1] != 3:
            raise PatchVSRError(f"expected frames of shape (F, H, W, 3), got {tuple(video.shape)}")
        return video.permute(3, 0, 1, 2)[None].float() / 127.5 - 1.0
    if video.ndim != 5 or video.shape[:2] != (1, 3):
        raise PatchVSRError(f"expected a (1, 3, F, H, W) tensor, got {tuple(video.shape)}")
    return video.float()


def to_uint8_frames(video: torch.Tensor) -> np.ndarray:
    """(1, 3, F, H, W) in [-1, 1] -> (F, H, W, 3) uint8."""
    frames = ((video[0].clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
    return frames.permute(1, 2, 3, 0).cpu().numpy()


def resolve_size(
    in_hw: tuple[int, int], scale: float | None, size: tuple[int, int] | None
) -> tuple[int, int]:
    """Output (H, W) from a scale factor or an explicit size."""
    if (scale is None) == (size is None):
        raise PatchVSRError("give exactly one of scale and size")
    if scale is not None:
        if not scale > 0:
            raise PatchVSRError(f"scale must be positive, got {scale}")
        return max(1, round(in_hw[0] * scale)), max(1, round(in_hw[1] * scale))
    if size[0] <= 0 or size[1] <= 0:
        raise PatchVSRError(f"output size must be positive, got {size[1]}x{size[0]}")
    return int(size[0]), int(size[1])


class PatchVSRPipeline(DiffusionPipeline):
    model_cpu_offload_seq = "adapter->transformer->vae"
    # Without this diffusers leaves a component that defaults to None out of `.to()`.
    _optional_components = ["adapter"]

    def __init__(
        self,
        transformer: WanTransformer3DModel,
        vae: torch.nn.Module,
        scheduler: FlowMatchEulerDiscreteScheduler,
        adapter: PatchVSRAdapter | None = None,
    ) -> None:
        super().__init__()
        self.register_modules(
            transformer=transformer, vae=vae, scheduler=scheduler, adapter=adapter
        )
        self.prompt_embeds: torch.Tensor | None = None  # (1, L, text_dim), the fixed prompt
        self.base_size = 512  # the base model's training resolution: patch and global view size
        self.window = 33  # frames per temporal window
        self.window_overlap = 8
        self._model: PatchVSRTransformer | None = None

    # -- set-up -----------------------------------------------------------------------------

    @property
    def codec(self) -> LatentCodec:
        return LatentCodec(self.vae)

    @property
    def model(self) -> PatchVSRTransformer:
        if (
            self._model is None
            or self._model.base is not self.transformer
            or self._model.adapter is not self.adapter
        ):
            self._model = PatchVSRTransformer(self.transformer, self.adapter)
        return self._model

    @property
    def align(self) -> int:
        """Pixels per transformer token: boxes on this lattice map onto whole tokens."""
        return self.codec.spatial * self.transformer.config.patch_size[1]

    def plan(
        self, height: int, width: int, patch_size: int | None = None, scheme: str = "paper"
    ) -> PatchPlan:
        """The patch plan (pixels) for an output of height x width, on the padded frame."""
        align = self.align
        patch = patch_size or self.base_size
        if patch % align:
            raise PatchVSRError(f"patch size must be a multiple of {align}, got {patch}")
        ph, pw = -(-height // align) * align, -(-width // align) * align
        return plan_patches(ph, pw, patch, scheme, align=align)

    # -- the model on a batch of patches -----------------------------------------------------

    # These three methods build exactly what the model sees; training calls them too, so a
    # trained model meets at inference the inputs it was trained on.

    def encode_inputs(
        self,
        lr: torch.Tensor,  # (B, 3, F, h, w) low-resolution clips in [-1, 1]
        out_hw: tuple[int, int],
        canvas_hw: tuple[int, int],
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Upscale (bicubic) to `out_hw`, pad to the canvas and the codec's frame rule, encode.

        Returns the upscaled clip (B, 3, F, H, W), its latent (B, C, f, Hl, Wl) and the latent
        of the global view (None without an adapter)."""
        codec = self.codec
        dtype = self.transformer.dtype
        num_frames = lr.shape[2]
        up = upscale_bicubic(lr, *out_hw)
        padded = pad_video(up, *canvas_hw, codec.padded_frames(num_frames))
        codec.maybe_tile(*canvas_hw)
        z_lr = codec.encode(padded).to(dtype)
        glob = None
        if self.adapter is not None:
            g = global_view(
                pad_video(lr, lr.shape[3], lr.shape[4], codec.padded_frames(num_frames)),
                self.base_size,
                self.align,
            )
            glob = codec.encode(g).to(dtype)
        return up, z_lr, glob

    def augment_condition(self, z_lr: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """The noise-augmented condition latent (the paper's t of about 200-300)."""
        if self.adapter is None:
            return z_lr
        s_aug = self.adapter.config.cond_noise_timestep / 1000.0
        return (1.0 - s_aug) * z_lr + s_aug * noise

    def predict_patches(
        self,
        latents: torch.Tensor,  # (B, C, f, h, w) noisy latents of B patches of one size
        cond: torch.Tensor,  # (B, C, f, h, w) their noise-augmented condition latents
        timestep: torch.Tensor,  # (B,)
        boxes: torch.Tensor,  # (B, 4) normalised boxes, on the CPU
        context,  # GlobalContext of the patches' clip(s), or None
        scale: float | torch.Tensor,  # scale factor, one or (B,)
    ) -> torch.Tensor:
        """The model's velocity prediction (B, C, f, h, w) for a batch of patches."""
        n = latents.shape[0]
        text = self.prompt_embeds.to(latents.device, latents.dtype).expand(n, -1, -1)
        has_adapter = self.adapter is not None
        location = location_encoding(boxes, scale).to(latents.device) if has_adapter else None
        return self.model(
            latents,
            timestep,
            text,
            cond_latents=cond if has_adapter else None,
            location=location,
            global_context=context,
            boxes=boxes,
        )

    def _predict(
        self,
        latents: torch.Tensor,  # (1, C, f, Hl, Wl) the canvas
        cond: torch.Tensor,  # (1, C, f, Hl, Wl) noise-augmented condition latents
        timestep: torch.Tensor,
        plan_latent: PatchPlan,
        weights: list[torch.Tensor],
        context,
        scale: float,
        batch_size: int,
        shape_hw: tuple[int, int],
    ) -> torch.Tensor:
        """Evaluate every patch and fuse the predictions on the canvas (joint modulation)."""
        fused = torch.zeros_like(latents)
        groups: dict[tuple[int, int], list[int]] = defaultdict(list)
        for i, p in enumerate(plan_latent.patches):
            groups[(p.height, p.width)].append(i)
        for indices in groups.values():
            for start in range(0, len(indices), batch_size):
                chunk = [plan_latent.patches[i] for i in indices[start : start + batch_size]]
                n = len(chunk)
                x = torch.cat([latents[..., p.y0 : p.y1, p.x0 : p.x1] for p in chunk])
                c = torch.cat([cond[..., p.y0 : p.y1, p.x0 : p.x1] for p in chunk])
                boxes = torch.tensor(
                    [normalized_box(p, *shape_hw) for p in chunk], dtype=torch.float32
                )
                out = self.predict_patches(x, c, timestep.expand(n), boxes, context, scale)
                for p, pred, i in zip(chunk, out, indices[start : start + batch_size], strict=True):
                    fused[0, :, :, p.y0 : p.y1, p.x0 : p.x1] += pred * weights[i]
        return fused

    # -- __call__ ---------------------------------------------------------------------------

    @torch.no_grad()
    def __call__(
        self,
        video,
        scale: float | None = None,
        size: tuple[int, int] | None = None,
        num_inference_steps: int = 4,
        strength: float = 1.0,
        patch_size: int | None = None,
        scheme: str = "paper",
        weight_mode: str = "paper",
        generator: torch.Generator | None = None,
        output_type: str = "np",
        batch_size: int | None = None,
        colour_correction: str = "wavelet",
        full_frame: bool = False,
        progress: Progress | None = None,
    ) -> PatchVSROutput:
        """Upscale `video` ((F, H, W, 3) uint8, or (1, 3, F, H, W) in [-1, 1]).

        `strength` 1.0 starts from pure noise (the full schedule); lower values start from the
        noised low-resolution latent and run only the last `strength` of the steps.
        `full_frame` runs the model once on the whole canvas instead of patch by patch (the
        baseline the paper improves on; same model, for comparisons)."""
        # 1. Check inputs
        if self.prompt_embeds is None:
            raise PatchVSRError(
                "the pipeline has no prompt embedding; load it with patchvsr.runtime"
            )
        if not 0.0 < strength <= 1.0:
            raise PatchVSRError(f"strength must be in (0, 1], got {strength}")
        if num_inference_steps < 1:
            raise PatchVSRError(f"steps must be at least 1, got {num_inference_steps}")
        if output_type not in ("np", "pt", "latent"):
            raise PatchVSRError(f"output_type must be np, pt or latent, got {output_type!r}")
        lr = to_video_tensor(video).to(self.device)
        _, _, num_frames, in_h, in_w = lr.shape
        out_h, out_w = resolve_size((in_h, in_w), scale, size)
        scale_factor = (out_h / in_h + out_w / in_w) / 2
        if full_frame:
            # One patch as large as the (padded) frame: the same model on the whole canvas.
            whole = -(-max(out_h, out_w) // self.align) * self.align
            plan = self.plan(out_h, out_w, whole, "tiles")
        else:
            plan = self.plan(out_h, out_w, patch_size, scheme)
        codec = self.codec
        check_fits(self, plan, min(num_frames, self.window), batch_size or 1)
        batch_size = batch_size or self.auto_batch_size(plan)

        # 2. Temporal windows: each is denoised on its own and cross-faded into the result
        spans = plan_windows(num_frames, self.window, self.window_overlap)
        blend = window_weights(spans, num_frames)
        if output_type == "latent" and len(spans) > 1:
            raise PatchVSRError(f"latent output needs a clip of at most {self.window} frames")
        result = None
        for k, (start, stop) in enumerate(spans):
            done = self._upscale_window(
                lr[:, :, start:stop],
                (out_h, out_w),
                plan,
                codec,
                num_inference_steps,
                strength,
                weight_mode,
                generator,
                batch_size,
                scale_factor,
                colour_correction,
                progress,
                (k, len(spans)),
                decode=output_type != "latent",
            )
            if output_type == "latent":
                return PatchVSROutput(frames=done, plan=plan)
            if result is None:
                result = torch.zeros(
                    1, 3, num_frames, out_h, out_w, dtype=done.dtype, device=done.device
                )
            result[:, :, start:stop] += done * torch.as_tensor(
                blend[k], dtype=done.dtype, device=done.device
            ).view(1, 1, -1, 1, 1)

        frames = to_uint8_frames(result) if output_type == "np" else result
        return PatchVSROutput(frames=frames, plan=plan)

    def _upscale_window(
        self,
        lr: torch.Tensor,
        out_hw: tuple[int, int],
        plan: PatchPlan,
        codec: LatentCodec,
        num_inference_steps: int,
        strength: float,
        weight_mode: str,
        generator: torch.Generator | None,
        batch_size: int,
        scale_factor: float,
        colour_correction: str,
        progress: Progress | None,
        window: tuple[int, int],
        decode: bool = True,
    ) -> torch.Tensor:
        out_h, out_w = out_hw
        num_frames = lr.shape[2]
        dtype = self.transformer.dtype

        # 3. Upscale (bicubic), pad to the token lattice and the codec's frame rule, encode
        up, z_lr, glob = self.encode_inputs(lr, (out_h, out_w), (plan.height, plan.width))

        # 4. Plan in latent units, weights on the latent canvas
        plan_latent = plan.scaled(codec.spatial)
        weights = [
            torch.from_numpy(w).to(z_lr.device, dtype)
            for w in patch_weights(plan_latent, weight_mode)
        ]

        # 5. Prepare latents: noise, the noise-augmented condition, the start point
        noise = torch.randn(z_lr.shape, generator=generator, device="cpu", dtype=torch.float32).to(
            z_lr.device, dtype
        )
        cond = z_lr
        residual = self.adapter is not None and self.adapter.config.predict_residual
        if self.adapter is not None:
            cond_noise = torch.randn(z_lr.shape, generator=generator, device="cpu").to(
                z_lr.device, dtype
            )
            cond = self.augment_condition(z_lr, cond_noise)
        # N evenly spaced noise levels from 1 down to 1/N, then 0 (as the Wan and Flux pipelines
        # do): the scheduler's default ends at 1/1000, wasting the last step on no noise.
        sigmas = np.linspace(1.0, 1.0 / num_inference_steps, num_inference_steps)
        self.scheduler.set_timesteps(sigmas=sigmas, device=z_lr.device)
        timesteps = self.scheduler.timesteps
        first = num_inference_steps - max(1, round(num_inference_steps * strength))
        timesteps = timesteps[first:]
        self.scheduler.set_begin_index(first)
        start = torch.zeros_like(z_lr) if residual else z_lr
        sigma = self.scheduler.sigmas[first].to(dtype)
        latents = (1.0 - sigma) * start + sigma * noise

        # 6. Denoising loop: every patch at every step, fused on one canvas
        total = len(timesteps)
        for i, t in enumerate(timesteps):
            t_batch = t.reshape(1).to(dtype)
            context = (
                self.model.encode_global(glob, t_batch, self.prompt_embeds.to(z_lr.device, dtype))
                if glob is not None
                else None
            )
            pred = self._predict(
                latents,
                cond,
                t_batch,
                plan_latent,
                weights,
                context,
                scale_factor,
                batch_size,
                (plan_latent.height, plan_latent.width),
            )
            latents = self.scheduler.step(pred, t, latents, return_dict=False)[0]
            if progress is not None:
                progress(
                    window[0] * total + i + 1,
                    window[1] * total,
                    f"step {i + 1}/{total}, {len(plan.patches)} patches",
                )

        # 7. Decode, crop the padding, correct colours against the upscaled input
        z = latents + z_lr if residual else latents
        if not decode:
            return z
        video = codec.decode(z.to(self.vae.dtype)).float()[:, :, :num_frames, :out_h, :out_w]
        return colour_fix(video, up.float(), colour_correction).clamp(-1, 1)

    def auto_batch_size(self, plan: PatchPlan) -> int:
        """Patches per forward pass: as many as a quarter of the free memory holds, at most 8."""
        per_patch = patch_activation_bytes(self, plan, self.window)
        return int(max(1, min(8, available_bytes(self.device) // 4 // max(per_patch, 1))))


def upscale_bicubic(video: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Bicubic resize of every frame of (B, C, F, H, W)."""
    b, c, f, h, w = video.shape
    frames = video.transpose(1, 2).reshape(b * f, c, h, w)
    out = F.interpolate(
        frames,
        size=(height, width),
        mode="bicubic",
        align_corners=False,
        antialias=(height < h or width < w),
    )
    return out.reshape(b, f, c, height, width).transpose(1, 2)


def pad_video(video: torch.Tensor, height: int, width: int, frames: int) -> torch.Tensor:
    """Replicate-pad (B, C, F, H, W) at the bottom/right and at the end in time."""
    _, _, f, h, w = video.shape
    if (h, w) != (height, width):
        b = video.shape[0]
        flat = video.transpose(1, 2).reshape(b * f, video.shape[1], h, w)
        flat = F.pad(flat, (0, width - w, 0, height - h), mode="replicate")
        video = flat.reshape(b, f, -1, height, width).transpose(1, 2)
    if frames > f:
        video = torch.cat([video, video[:, :, -1:].expand(-1, -1, frames - f, -1, -1)], dim=2)
    return video
