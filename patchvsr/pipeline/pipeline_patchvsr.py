"""`PatchVSRPipeline`: patch-wise video super-resolution with a video diffusion transformer.

The low-resolution clip is upscaled (bicubic) to the output size and encoded onto one latent
canvas. At every denoising step the model runs on every patch of the grid (base + auxiliary
seam patches, batched by size) and the predictions are fused on the canvas with the grid's
weights (the paper's multi-patch joint modulation, `patchvsr.method.fusion`), then the scheduler takes
one step on the whole canvas (`patchvsr.pipeline.denoising`). The global branch sees the whole clip at
the base size; it runs once per step and is shared by all patches.

A diffusers pipeline: it runs the scheduler it holds (the model folder's, or one set as
`pipe.scheduler = X.from_config(pipe.scheduler.config)`), with `num_inference_steps` and
`strength` as `WanVideoToVideoPipeline` takes them (`patchvsr.pipeline.scheduling`). Its settings (base
size, temporal window and overlap, default steps and strength) are its registered config, and
`save_pretrained` / `from_pretrained` round-trip it, the fixed prompt's embedding included
(`PromptEmbedding`). `from_pretrained` also takes the hub's Wan2.1 layout (`patchvsr.pipeline.loading`).

Guidance: `guidance_scale` defaults to 1 (off), unlike diffusers' Wan pipelines (5 with a
negative prompt), for every model. The picture's content comes from the low-resolution clip,
not from the prompt, which is one fixed description of quality; PatchVSR's adapter and mini are
trained with that prompt only (no prompt dropout), so they never learned an unconditional
prediction to guide against; and guidance runs every patch twice at every step, doubling the
model work. A higher `guidance_scale` with `negative_prompt` is there for the training-free
base, which was trained for it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from diffusers import DiffusionPipeline, SchedulerMixin, WanTransformer3DModel
from diffusers.utils import BaseOutput

from patchvsr.errors import PatchVSRError
from patchvsr.frames import as_video, pad_video, upscale_bicubic, video_to_frames
from patchvsr.method.clean_input import clean_clip
from patchvsr.method.denoise_level import check_denoise, estimate_denoise
from patchvsr.method.flat_guard import guard_flat_areas, guard_strength
from patchvsr.method.grid import PatchPlan, default_scheme
from patchvsr.method.location import location_scale
from patchvsr.method.temporal import plan_windows, window_weights
from patchvsr.method.temporal_detail import steady_detail
from patchvsr.models import PatchVSRAdapter
from patchvsr.models.configs import PlanGeometry
from patchvsr.models.prompt import PromptEmbedding
from patchvsr.pipeline import loading, scheduling
from patchvsr.pipeline.codec import LatentCodec
from patchvsr.pipeline.denoising import PatchDenoisingMixin
from patchvsr.pipeline.memory import available_bytes, check_fits, patch_activation_bytes
from patchvsr.pipeline.window import Window
from patchvsr.request import output_size, plan_for

GUIDANCE_SCALE = 1.0  # off: see the module docstring

# (done, total, what): denoising steps done over all windows of the call
Progress = Callable[[int, int, str], None]

__all__ = ["PatchVSROutput", "PatchVSRPipeline", "pad_video", "upscale_bicubic"]


@dataclass
class PatchVSROutput(BaseOutput):
    """`frames`: (F, H, W, 3) uint8 for output_type "np", (1, 3, F, H, W) in [-1, 1] for "pt",
    or the denoised latent canvas (1, C, f, h, w) of a single-window clip for "latent"."""

    frames: np.ndarray | torch.Tensor
    plan: PatchPlan


class PatchVSRPipeline(PatchDenoisingMixin, DiffusionPipeline):
    # `enable_model_cpu_offload` moves the transformer, then the VAE, onto the GPU as they run.
    # The adapter runs inside every transformer block and the prompt is one small tensor:
    # they stay on the GPU (offloading them would move the adapter twice per step).
    model_cpu_offload_seq = "transformer->vae"
    _exclude_from_cpu_offload = ["adapter", "prompt"]
    # Without this diffusers leaves a component that defaults to None out of `.to()`.
    _optional_components = ["adapter", "prompt"]

    def __init__(
        self,
        transformer: WanTransformer3DModel,
        vae: torch.nn.Module,
        scheduler: SchedulerMixin,
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
        clean_input: bool = False,
        flat_guard: float = 0.0,
    ) -> None:
        """`base_size`: the base model's training resolution, the size of patches and of the
        global view; `window` frames per temporal window, consecutive ones sharing
        `window_overlap`; `default_steps` and `default_strength` what `__call__` runs when
        not told; `clip_noise` one noise field for the whole clip instead of fresh noise per
        frame (`patchvsr.method.temporal_detail.clip_noise`); `steady_detail` the added detail averaged
        over time where the picture stands still (`patchvsr.method.temporal_detail.steady_detail`);
        `default_patch_size` the patch size run when not told (None: `base_size`) and
        `default_scheme` the grid (None: `grid.default_scheme` of the steps that run);
        `clean_input` the `denoise` control's filter on the input clip before it is upscaled
        (`patchvsr.method.clean_input`, mini's); `flat_guard` the strength (8-bit levels, 0:
        off) of the `denoise` control's last stage, which keeps the output's flat areas as
        quiet as the input's (`patchvsr.method.flat_guard`, mini's)."""
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
            clean_input=clean_input,
            flat_guard=flat_guard,
        )
        self._model = None
        self.bf16_matmuls = False  # see `enable_bf16_matmuls`
        # The Wan folder whose text encoder embeds other prompts (`encode_text`); set by
        # `from_pretrained` for the hub's layout, None for a model without one.
        self.text_encoder_path: Path | None = None

    # -- set-up -----------------------------------------------------------------------------

    @classmethod
    def from_pretrained(
        cls, source: str | Path, adapter: str | Path | None = None, **kwargs
    ) -> PatchVSRPipeline:
        """A saved PatchVSR pipeline (a folder or hub id), or the hub's Wan2.1 layout. Only
        safetensors are read. `adapter` (a folder or hub id) replaces the saved adapter;
        `dtype` applies to all but the autoencoder, which loads in `vae_dtype` (default fp32,
        as diffusers documents for the Wan VAE; see `patchvsr.pipeline.codec.VAE_DTYPE_REASON`)."""
        return loading.load(cls, source, adapter, **kwargs)

    def save_pretrained(self, save_directory: str | Path, **kwargs) -> None:
        kwargs.setdefault("safe_serialization", True)
        super().save_pretrained(save_directory, **kwargs)

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
        return default_scheme(max(1, scheduling.steps_run(steps, strength)))

    def windows_for(self, num_frames: int) -> list[tuple[int, int]]:
        """The temporal windows [start, stop) a clip of `num_frames` is denoised in."""
        return plan_windows(num_frames, self.config.window, self.config.window_overlap)

    # -- __call__ ---------------------------------------------------------------------------

    def check_inputs(
        self,
        scale: float | None,
        size: tuple[int, int] | None,
        num_inference_steps: int,
        strength: float,
        guidance_scale: float,
        negative_prompt: str | None,
        negative_prompt_embeds: torch.Tensor | None,
        output_type: str,
    ) -> None:
        """One short error for each setting `__call__` cannot run."""
        if self.prompt_embeds is None:
            raise PatchVSRError("the pipeline has no prompt embedding (set `prompt_embeds`)")
        if num_inference_steps < 1:
            raise PatchVSRError(f"steps must be at least 1, got {num_inference_steps}")
        if not 0.0 < strength <= 1.0:
            raise PatchVSRError(f"strength must be in (0, 1], got {strength}")
        if scheduling.steps_run(num_inference_steps, strength) < 1:
            raise PatchVSRError(
                f"strength {strength:g} of {num_inference_steps} steps runs none "
                f"(int(steps x strength) must be at least 1)"
            )
        if not guidance_scale >= 1.0:
            raise PatchVSRError(f"guidance_scale must be 1 (off) or more, got {guidance_scale}")
        if negative_prompt is not None and negative_prompt_embeds is not None:
            raise PatchVSRError("give negative_prompt or negative_prompt_embeds, not both")
        if negative_prompt is not None and self.text_encoder_path is None:
            raise PatchVSRError(
                "negative_prompt needs the model's text encoder (a Wan folder); "
                "give negative_prompt_embeds instead"
            )
        if output_type not in ("np", "pt", "latent"):
            raise PatchVSRError(f"output_type must be np, pt or latent, got {output_type!r}")
        if (scale is None) == (size is None):
            raise PatchVSRError("give exactly one of scale and size")

    def encode_prompt(
        self,
        guidance_scale: float,
        negative_prompt: str | None = None,
        negative_prompt_embeds: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The fixed prompt's embedding, and the negative one when guidance is on: the given
        embedding, else `negative_prompt` (default "", as in diffusers' Wan pipelines) through
        the text encoder, else zeros (no tokens) when the model has none."""
        if guidance_scale <= 1.0:
            return self.prompt_embeds, None
        if negative_prompt_embeds is None:
            if self.text_encoder_path is not None:
                negative_prompt_embeds = self.encode_text(negative_prompt or "")
            else:
                negative_prompt_embeds = torch.zeros_like(self.prompt_embeds)
        return self.prompt_embeds, negative_prompt_embeds

    def encode_text(self, text: str) -> torch.Tensor:
        """A prompt's embedding (1, L, text_dim) by the text encoder of the Wan folder this
        pipeline was loaded from (cached like the fixed prompt's)."""
        if self.text_encoder_path is None:
            raise PatchVSRError("this model has no text encoder to embed a prompt with")
        return loading.prompt_embedding(self.text_encoder_path, self._execution_device, text=text)

    @torch.no_grad()
    def __call__(
        self,
        video,
        scale: float | None = None,
        size: tuple[int, int] | None = None,
        num_inference_steps: int | None = None,
        strength: float | None = None,
        guidance_scale: float = GUIDANCE_SCALE,
        negative_prompt: str | None = None,
        negative_prompt_embeds: torch.Tensor | None = None,
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

        `num_inference_steps` and `strength` (default: the model's config) as in diffusers'
        `WanVideoToVideoPipeline`: the held scheduler's `num_inference_steps` timesteps, of
        which the last `int(num_inference_steps * strength)` run, from the upscaled clip's
        latent noised at the first of them (`patchvsr.pipeline.scheduling`). `guidance_scale` > 1 runs
        classifier-free guidance against `negative_prompt` (or `negative_prompt_embeds`), at
        twice the model work; the default 1 is off (see the module docstring). `full_frame`
        runs the model once on the whole canvas instead of patch by patch (the baseline the
        paper improves on). `scheme` and `patch_size` None take the model's own (`scheme_for`,
        `geometry.default_patch`). `denoise` in [0, 1] is how strongly a model with a
        denoise-aware detail head cleans noise, grain and codec blocks (0: the most faithful
        detail); None estimates it from the clip (`patchvsr.method.denoise_level`). Models
        without one ignore it."""
        steps = self.config.default_steps if num_inference_steps is None else num_inference_steps
        strength = self.config.default_strength if strength is None else strength

        # 1. Check inputs
        self.check_inputs(
            scale,
            size,
            steps,
            strength,
            guidance_scale,
            negative_prompt,
            negative_prompt_embeds,
            output_type,
        )
        denoise = check_denoise(denoise)
        device = self._execution_device

        # 2. Define call parameters: output size, patch plan, temporal windows, batch size
        lr = as_video(video).to(device)
        if denoise is None and self.has_denoise:
            denoise = estimate_denoise(lr)  # once for the whole clip: no level flicker
        if denoise and self.config.get("clean_input", False):
            lr = clean_clip(lr, denoise)
        num_frames = lr.shape[2]
        out_hw = output_size(tuple(lr.shape[3:]), scale, size)
        scheme = self.scheme_for(scheme, steps, strength)
        plan = self.plan_for(out_hw, patch_size, scheme, full_frame=full_frame)
        check_fits(self, plan, min(num_frames, self.config.window), batch_size or 1)
        batch_size = batch_size or self.auto_batch_size(plan)
        spans = self.windows_for(num_frames)  # each denoised on its own, then cross-faded
        if output_type == "latent" and len(spans) > 1:
            raise PatchVSRError(
                f"latent output needs a clip of at most {self.config.window} frames"
            )
        blend = window_weights(spans, num_frames)
        layouts = self.step_layouts(plan, weight_mode)

        # 3. Encode input prompt: the fixed prompt's embedding, a negative one for guidance
        prompt_embeds, negative_embeds = self.encode_prompt(
            guidance_scale, negative_prompt, negative_prompt_embeds
        )

        result = None
        for k, (start, stop) in enumerate(spans):
            # 4. Prepare timesteps, for each window: `set_timesteps` also restarts a multistep
            # scheduler, which keeps the previous window's history
            timesteps = scheduling.get_timesteps(self.scheduler, steps, strength, device)

            # 5. Prepare latents: upscale (bicubic), pad, encode; noise at the first timestep
            up, z_lr, glob = self.encode_inputs(
                lr[:, :, start:stop], out_hw, (plan.height, plan.width)
            )
            latents, cond, base = self.prepare_latents(z_lr, timesteps[:1], generator, denoise)
            window = Window(
                num_frames=stop - start,
                out_hw=out_hw,
                scale=location_scale(lr.shape[3:], out_hw),
                plan=plan,
                layouts=layouts,
                upscaled=up,
                base=base,
                cond=cond,
                glob=glob,
                latents=latents,
                timesteps=timesteps,
                residual=self.residual,
                batch_size=batch_size,
                text=prompt_embeds,
                negative_text=negative_embeds,
                guidance_scale=guidance_scale,
                pitch=self.adapter.detail.pitch if self.residual and self.adapter.detail else 0,
            )

            # 6. Denoising loop: every patch at every step, fused on one canvas
            total = len(timesteps)
            for i, t in enumerate(timesteps):
                window.latents = self.denoise_step(window, t, i)
                if progress is not None:
                    what = f"step {i + 1}/{total}, {len(plan.patches)} patches"
                    progress(k * total + i + 1, len(spans) * total, what)
            if output_type == "latent":
                self.maybe_free_model_hooks()
                return PatchVSROutput(frames=window.result(), plan=plan)

            # 7. Decode, crop the padding, correct colours; cross-fade into the result
            done = self.decode_window(window, colour_correction)
            if result is None:
                result = done.new_zeros(1, 3, num_frames, *out_hw)
            weight = torch.as_tensor(blend[k], dtype=done.dtype, device=done.device)
            result[:, :, start:stop] += done * weight.view(1, 1, -1, 1, 1)

        # 8. Post-process: steady detail where the picture stands still, flat areas kept
        # quiet, the output format
        if self.config.get("steady_detail", False):
            result = steady_detail(result, upscale_bicubic(lr, *out_hw).to(result.dtype), lr)
        guard = self.config.get("flat_guard", 0.0)
        if denoise and guard:
            result = guard_flat_areas(result, lr, guard_strength(guard, denoise))
        frames = video_to_frames(result) if output_type == "np" else result

        # 9. Offload all models
        self.maybe_free_model_hooks()
        return PatchVSROutput(frames=frames, plan=plan)

    def auto_batch_size(self, plan: PatchPlan) -> int:
        """Patches per forward pass: as many as a quarter of the free memory holds, at most 8."""
        per_patch = patch_activation_bytes(self, plan, self.config.window)
        free = available_bytes(self._execution_device)
        return int(max(1, min(8, free // 4 // max(per_patch, 1))))
