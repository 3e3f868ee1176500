"""`PatchVSRPipeline`: patch-wise video super-resolution with a video diffusion transformer.

The low-resolution clip is upscaled (bicubic) to the output size and encoded onto one latent
canvas. At every denoising step the model runs on every patch of the grid (base + auxiliary
seam patches, batched by size) and the predictions are fused on the canvas with the grid's
weights (the paper's multi-patch joint modulation, `patchvsr.fusion`), then the scheduler takes
one step on the whole canvas. The global branch sees the whole clip at the base size; it runs
once per step and is shared by all patches.

A diffusers pipeline: its settings (base size, temporal window and overlap, default steps and
strength) are its registered config, and `save_pretrained` / `from_pretrained` round-trip it,
the fixed prompt's embedding included (`PromptEmbedding`). `from_pretrained` also takes the
hub's Wan2.1 layout (`patchvsr.loading`).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from diffusers import DiffusionPipeline, FlowMatchEulerDiscreteScheduler, WanTransformer3DModel
from diffusers.utils import BaseOutput

from patchvsr import fusion, loading, parallel
from patchvsr.codec import LatentCodec
from patchvsr.colorfix import colour_fix
from patchvsr.context import global_view
from patchvsr.denoise_level import check_denoise, estimate_denoise
from patchvsr.errors import PatchVSRError
from patchvsr.frames import as_video, pad_video, upscale_bicubic, video_to_frames
from patchvsr.grid import PatchPlan, default_scheme
from patchvsr.location import location_encoding, location_scale
from patchvsr.memory import available_bytes, check_fits, patch_activation_bytes
from patchvsr.models import PatchVSRAdapter, PatchVSRTransformer
from patchvsr.models.configs import PlanGeometry
from patchvsr.models.prompt import PromptEmbedding
from patchvsr.request import output_size, plan_for
from patchvsr.step_layout import StepLayouts
from patchvsr.temporal import plan_windows, window_weights
from patchvsr.temporal_detail import clip_noise, steady_detail
from patchvsr.window import DenoiseSettings, Window

# (done, total, what): denoising steps done over all windows of the call
Progress = Callable[[int, int, str], None]

__all__ = ["PatchVSROutput", "PatchVSRPipeline", "pad_video", "upscale_bicubic"]


@dataclass
class PatchVSROutput(BaseOutput):
    """`frames`: (F, H, W, 3) uint8 for output_type "np", (1, 3, F, H, W) in [-1, 1] for "pt",
    or the denoised latent canvas (1, C, f, h, w) of a single-window clip for "latent"."""

    frames: np.ndarray | torch.Tensor
    plan: PatchPlan


class PatchVSRPipeline(DiffusionPipeline):
    model_cpu_offload_seq = "adapter->transformer->vae"
    # Without this diffusers leaves a component that defaults to None out of `.to()`.
    _optional_components = ["adapter", "prompt"]

    def __init__(
        self,
        transformer: WanTransformer3DModel,
        vae: torch.nn.Module,
        scheduler: FlowMatchEulerDiscreteScheduler,
        adapter: PatchVSRAdapter | None = None,
        prompt: PromptEmbedding | None = None,
        base_size: int = 512,
        window: int = 33,
        window_overlap: int = 8,
        default_steps: int = 4,
        default_strength: float = 1.0,
        clip_noise: bool = False,
        steady_detail: bool = False,
        default_patch_size: int | None = None,
        default_scheme: str | None = None,
    ) -> None:
        """`base_size`: the base model's training resolution, the size of patches and of the
        global view; `window` frames per temporal window, consecutive ones sharing
        `window_overlap`; `default_steps` and `default_strength` what `__call__` runs when
        not told; `clip_noise` one noise field for the whole clip instead of fresh noise per
        frame (`patchvsr.temporal_detail.clip_noise`); `steady_detail` the added detail averaged
        over time where the picture stands still (`patchvsr.temporal_detail.steady_detail`);
        `default_patch_size` the patch size run when not told (None: `base_size`) and
        `default_scheme` the grid (None: `grid.default_scheme` of the steps that run)."""
        super().__init__()
        self.register_modules(
            transformer=transformer, vae=vae, scheduler=scheduler, adapter=adapter, prompt=prompt
        )
        self.register_to_config(
            base_size=base_size,
            window=window,
            window_overlap=window_overlap,
            default_steps=default_steps,
            default_strength=default_strength,
            clip_noise=clip_noise,
            steady_detail=steady_detail,
            default_patch_size=default_patch_size,
            default_scheme=default_scheme,
        )
        self._model: PatchVSRTransformer | None = None
        self.bf16_matmuls = False  # see `enable_bf16_matmuls`

    # -- set-up -----------------------------------------------------------------------------

    @classmethod
    def from_pretrained(
        cls, source: str | Path, adapter: str | Path | None = None, **kwargs
    ) -> PatchVSRPipeline:
        """A saved PatchVSR pipeline (a folder or hub id), or the hub's Wan2.1 layout. Only
        safetensors are read. `adapter` (a folder or hub id) replaces the saved adapter;
        `dtype` applies to all but the autoencoder, which stays fp32."""
        return loading.load(cls, source, adapter, **kwargs)

    def save_pretrained(self, save_directory: str | Path, **kwargs) -> None:
        kwargs.setdefault("safe_serialization", True)
        super().save_pretrained(save_directory, **kwargs)

    def enable_bf16_matmuls(self, enabled: bool = True) -> None:
        """Run the transformer and the adapter (the detail head included) under bf16 autocast:
        their matrix products, convolutions and attention in bf16, while the latent canvas, the
        fusion and the scheduler stay in the pipeline's dtype. On a CPU with native bf16
        (AVX512-BF16, AMX) a linear layer of mini's size runs 2.8x faster and its detail head
        2.7x, but attention and element-wise ops gain nothing; mini's held-out Y-PSNR moves by
        less than 0.002 dB (README, Performance)."""
        self.bf16_matmuls = enabled

    @contextlib.contextmanager
    def model_precision(self) -> Iterator[None]:
        """The autocast context the model runs in (off unless `enable_bf16_matmuls`)."""
        if not self.bf16_matmuls:
            yield
            return
        with torch.autocast(self.device.type, torch.bfloat16), warnings.catch_warnings():
            # The q/k RMS norms keep fp32 weights for bf16 inputs; torch says it once, as a
            # warning a user of the command line has no use for.
            warnings.filterwarnings("ignore", "Mismatch dtype between input and weight")
            yield

    @property
    def prompt_embeds(self) -> torch.Tensor | None:
        """The fixed prompt's embedding (1, L, text_dim)."""
        return None if self.prompt is None else self.prompt.embeds

    @prompt_embeds.setter
    def prompt_embeds(self, embeds: torch.Tensor) -> None:
        self.register_modules(prompt=PromptEmbedding.of(embeds).to(embeds.device))

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

    @property
    def geometry(self) -> PlanGeometry:
        patch = self.config.get("default_patch_size")  # absent from older folders
        return PlanGeometry(self.config.base_size, self.align, patch)

    def plan_for(
        self,
        out_hw: tuple[int, int],
        patch_size: int | None = None,
        scheme: str | None = None,
        overlap: float | None = None,
        full_frame: bool = False,
    ) -> PatchPlan:
        """The patch plan (pixels, on the padded frame) `__call__` runs for an output of
        `out_hw` with these settings: `patchvsr.request.plan_for` with this model's geometry.
        None for `patch_size` and `scheme`: the model's own (`geometry.default_patch`, and
        `scheme_for` at its default steps)."""
        scheme = self.scheme_for(scheme)
        return plan_for(self.geometry, out_hw, patch_size, scheme, overlap, full_frame)

    def scheme_for(
        self, scheme: str | None = None, steps: int | None = None, strength: float | None = None
    ) -> str:
        """The grid scheme `__call__` runs: `scheme`, else the model's `default_scheme`, else
        `grid.default_scheme` of the steps that run (None for `steps` and `strength`: the
        model's defaults)."""
        own = scheme or self.config.get("default_scheme")
        if own:
            return own
        steps = self.config.default_steps if steps is None else steps
        strength = self.config.default_strength if strength is None else strength
        return default_scheme(max(1, round(steps * strength)))

    def windows_for(self, num_frames: int) -> list[tuple[int, int]]:
        """The temporal windows [start, stop) a clip of `num_frames` is denoised in."""
        return plan_windows(num_frames, self.config.window, self.config.window_overlap)

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
        frames = codec.padded_frames(lr.shape[2])
        up = upscale_bicubic(lr, *out_hw)
        codec.maybe_tile(*canvas_hw)
        z_lr = codec.encode(pad_video(up, *canvas_hw, frames)).to(dtype)
        glob = None
        if self.adapter is not None:
            whole = pad_video(lr, *lr.shape[3:], frames)
            glob = codec.encode(global_view(whole, self.config.base_size, self.align)).to(dtype)
        return up, z_lr, glob

    def augment_condition(self, z_lr: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """The noise-augmented condition latent (the paper's t of about 200-300)."""
        if self.adapter is None:
            return z_lr
        s_aug = self.adapter.config.cond_noise_timestep / 1000.0
        return (1.0 - s_aug) * z_lr + s_aug * noise

    def residual_base(self, z_lr: torch.Tensor, denoise=None) -> torch.Tensor:
        """What a residual model's prediction is added to: `z_lr`, sharpened by the adapter's
        detail head when it has one (`PatchVSRAdapter.base_latent`), at the `denoise` level."""
        return z_lr if self.adapter is None else self.adapter.base_latent(z_lr, denoise)

    @property
    def has_denoise(self) -> bool:
        """Whether the model takes a `denoise` level (a detail head with levels); others
        ignore it."""
        return self.adapter is not None and self.adapter.has_denoise

    def predict_patches(
        self,
        latents: torch.Tensor,  # (B, C, f, h, w) noisy latents of B patches of one size
        cond: torch.Tensor,  # (B, C, f, h, w) their noise-augmented condition latents
        timestep: torch.Tensor,  # (B,)
        boxes: torch.Tensor,  # (B, 4) normalised boxes, on the CPU
        context,  # GlobalKeysValues of the patches' clip(s), or None
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

    # -- one window -------------------------------------------------------------------------

    def step_layouts(self, plan: PatchPlan, weight_mode: str = "paper") -> StepLayouts:
        """Each step's plan in latent units and its weights on the latent canvas (a shifted
        grid: one per step), built once for all windows of a call."""
        factor = self.codec.spatial
        return StepLayouts(plan, factor, weight_mode, self.device, self.transformer.dtype)

    def prepare_window(
        self,
        lr: torch.Tensor,
        out_hw: tuple[int, int],
        layouts: StepLayouts,
        run: DenoiseSettings,
    ) -> Window:
        """Encode a window's frames (1, 3, F, h, w) and set up its schedule."""
        dtype = self.transformer.dtype
        plan = layouts.plan
        # 3. Upscale (bicubic), pad to the token lattice and the codec's frame rule, encode
        up, z_lr, glob = self.encode_inputs(lr, out_hw, (plan.height, plan.width))

        # 5. Prepare latents: noise, the noise-augmented condition, the start point
        def randn(salt: int) -> torch.Tensor:
            if self.config.get("clip_noise", False):
                noise = clip_noise(z_lr.shape, run.generator, salt)
            else:
                noise = torch.randn(z_lr.shape, generator=run.generator, device="cpu")
            return noise.to(z_lr.device, dtype)

        noise = randn(0)
        cond = self.augment_condition(z_lr, randn(1)) if self.adapter is not None else z_lr
        residual = self.adapter is not None and self.adapter.config.predict_residual
        base = z_lr
        if residual:
            # The head's convolutions run in the model's precision too: bf16 moves the held-out
            # Y-PSNR by under 0.01 dB (README, Performance); the sum stays in the canvas dtype.
            with self.model_precision():
                base = self.residual_base(z_lr, run.denoise)
        # N evenly spaced noise levels from 1 down to 1/N, then 0 (as the Wan and Flux pipelines
        # do): the scheduler's default ends at 1/1000, wasting the last step on no noise.
        steps = run.num_inference_steps
        self.scheduler.set_timesteps(
            sigmas=np.linspace(1.0, 1.0 / steps, steps), device=z_lr.device
        )
        first = steps - max(1, round(steps * run.strength))
        self.scheduler.set_begin_index(first)
        start = torch.zeros_like(z_lr) if residual else z_lr
        sigma = self.scheduler.sigmas[first].to(dtype)
        return Window(
            num_frames=lr.shape[2],
            out_hw=out_hw,
            scale=location_scale(lr.shape[3:], out_hw),
            plan=plan,
            layouts=layouts,
            upscaled=up,
            base=base,
            cond=cond,
            glob=glob,
            latents=(1.0 - sigma) * start + sigma * noise,
            timesteps=self.scheduler.timesteps[first:],
            residual=residual,
            batch_size=run.batch_size,
            pitch=self.adapter.detail.pitch if residual and self.adapter.detail else 0,
        )

    def step_patches(self, plan_latent: PatchPlan) -> list[int]:
        """The patches of one step's plan (latent cells) that this process evaluates: all of
        them, or inside a process group its share (`patchvsr.parallel`, balanced by tokens)."""
        token_hw = tuple(self.transformer.config.patch_size[1:])
        return parallel.patch_indices(plan_latent, token_hw)

    def denoise_step(self, window: Window, t: torch.Tensor, step: int) -> torch.Tensor:
        """One denoising step on the whole canvas: the global branch once, every patch of
        `step_patches` of step `step`'s layout (counted from the window's first step), fused
        (`fusion.fuse_patches`), one scheduler step. Returns the new latents (and leaves
        `window` as it was)."""
        dtype = window.latents.dtype
        t_batch = t.reshape(1).to(dtype)
        plan_latent, weights = window.layout(step)
        with self.model_precision():
            context = None
            if window.glob is not None:
                text = self.prompt_embeds.to(window.latents.device, dtype)
                context = self.model.encode_global(window.glob, t_batch, text)

            def predict(x: torch.Tensor, c: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
                t_patches = t_batch.expand(len(x))
                return self.predict_patches(x, c, t_patches, boxes, context, window.scale)

            pred = fusion.fuse_patches(
                predict,
                window.latents,
                window.cond,
                plan_latent,
                weights,
                self.step_patches(plan_latent),
                window.batch_size,
            )
        pred = parallel.fuse(pred)  # the other processes' shares added in
        return self.scheduler.step(pred, t, window.latents, return_dict=False)[0]

    def decode_window(self, window: Window, colour_correction: str = "wavelet") -> torch.Tensor:
        """Decode, crop the padding, correct colours against the upscaled input."""
        out_h, out_w = window.out_hw
        video = self.codec.decode(window.result().to(self.vae.dtype)).float()
        video = video[:, :, : window.num_frames, :out_h, :out_w]
        return colour_fix(video, window.upscaled.float(), colour_correction).clamp(-1, 1)

    # -- __call__ ---------------------------------------------------------------------------

    @torch.no_grad()
    def __call__(
        self,
        video,
        scale: float | None = None,
        size: tuple[int, int] | None = None,
        num_inference_steps: int | None = None,
        strength: float | None = None,
        patch_size: int | None = None,
        scheme: str | None = None,
        weight_mode: str = "paper",
        generator: torch.Generator | None = None,
        output_type: str = "np",
        batch_size: int | None = None,
        colour_correction: str = "wavelet",
        full_frame: bool = False,
        progress: Progress | None = None,
        denoise: float | None = None,
    ) -> PatchVSROutput:
        """Upscale `video` ((F, H, W, 3) uint8, or (1, 3, F, H, W) in [-1, 1]) by `scale` or
        to `size` (H, W).

        `num_inference_steps` and `strength` default to the model's own (its config).
        `strength` 1.0 starts from pure noise (the full schedule); lower values start from the
        noised low-resolution latent and run only the last `strength` of the steps.
        `full_frame` runs the model once on the whole canvas instead of patch by patch (the
        baseline the paper improves on; same model, for comparisons). `scheme` and
        `patch_size` None take the model's own (`scheme_for`, `geometry.default_patch`).
        `denoise` in [0, 1] is how strongly a model with a denoise-aware detail head cleans
        noise, grain and codec blocks (0: the most faithful detail); None estimates it from
        the clip (`patchvsr.denoise_level`). Models without one ignore it."""
        # 1. Check inputs
        steps = self.config.default_steps if num_inference_steps is None else num_inference_steps
        strength = self.config.default_strength if strength is None else strength
        if self.prompt_embeds is None:
            raise PatchVSRError("the pipeline has no prompt embedding (set `prompt_embeds`)")
        if not 0.0 < strength <= 1.0:
            raise PatchVSRError(f"strength must be in (0, 1], got {strength}")
        if steps < 1:
            raise PatchVSRError(f"steps must be at least 1, got {steps}")
        if output_type not in ("np", "pt", "latent"):
            raise PatchVSRError(f"output_type must be np, pt or latent, got {output_type!r}")
        if (scale is None) == (size is None):
            raise PatchVSRError("give exactly one of scale and size")
        denoise = check_denoise(denoise)
        lr = as_video(video).to(self.device)
        if denoise is None and self.has_denoise:
            denoise = estimate_denoise(lr)  # once for the whole clip: no level flicker
        num_frames = lr.shape[2]
        out_hw = output_size(tuple(lr.shape[3:]), scale, size)
        scheme = self.scheme_for(scheme, steps, strength)
        plan = self.plan_for(out_hw, patch_size, scheme, full_frame=full_frame)
        check_fits(self, plan, min(num_frames, self.config.window), batch_size or 1)
        run = DenoiseSettings(
            steps,
            strength,
            weight_mode,
            colour_correction,
            batch_size or self.auto_batch_size(plan),
            generator,
            denoise,
        )

        # 2. Temporal windows: each is denoised on its own and cross-faded into the result
        spans = self.windows_for(num_frames)
        if output_type == "latent" and len(spans) > 1:
            raise PatchVSRError(
                f"latent output needs a clip of at most {self.config.window} frames"
            )
        blend = window_weights(spans, num_frames)
        result = None
        layouts = self.step_layouts(plan, weight_mode)
        for k, (start, stop) in enumerate(spans):
            window = self.prepare_window(lr[:, :, start:stop], out_hw, layouts, run)
            # 6. Denoising loop: every patch at every step, fused on one canvas
            total = len(window.timesteps)
            for i, t in enumerate(window.timesteps):
                window.latents = self.denoise_step(window, t, i)
                if progress is not None:
                    what = f"step {i + 1}/{total}, {len(plan.patches)} patches"
                    progress(k * total + i + 1, len(spans) * total, what)
            if output_type == "latent":
                return PatchVSROutput(frames=window.result(), plan=plan)
            # 7. Decode, crop the padding, correct colours; cross-fade into the result
            done = self.decode_window(window, colour_correction)
            if result is None:
                result = done.new_zeros(1, 3, num_frames, *out_hw)
            weight = torch.as_tensor(blend[k], dtype=done.dtype, device=done.device)
            result[:, :, start:stop] += done * weight.view(1, 1, -1, 1, 1)

        if self.config.get("steady_detail", False):
            result = steady_detail(result, upscale_bicubic(lr, *out_hw).to(result.dtype), lr)
        frames = video_to_frames(result) if output_type == "np" else result
        return PatchVSROutput(frames=frames, plan=plan)

    def auto_batch_size(self, plan: PatchPlan) -> int:
        """Patches per forward pass: as many as a quarter of the free memory holds, at most 8."""
        per_patch = patch_activation_bytes(self, plan, self.config.window)
        return int(max(1, min(8, available_bytes(self.device) // 4 // max(per_patch, 1))))
