"""One denoising step of `PatchVSRPipeline` on the latent canvas, and what the model sees.

`PatchDenoisingMixin` holds the parts of the pipeline that `__call__` composes, window by
window: `encode_inputs` (bicubic upscale, pad, encode), `prepare_latents` (noise at the first
timestep), `denoise_step` (every patch of the step's layout, fused, one scheduler step) and
`decode_window`. `encode_inputs`, `augment_condition`, `residual_base` and `predict_patches`
build exactly what the model sees; training calls them too, so a trained model meets at
inference the inputs it was trained on.

The canvas stays fp32 as diffusers keeps latents (the scheduler's update is small next to the
latent, and bf16 keeps 8 bits of it); the model runs in its own dtype on each batch of patches,
and timesteps reach it in fp32.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

import torch

from patchvsr import parallel
from patchvsr.frames import pad_video, upscale_bicubic
from patchvsr.method import fusion
from patchvsr.method.colorfix import colour_fix
from patchvsr.method.context import global_view
from patchvsr.method.grid import PatchPlan
from patchvsr.method.location import location_encoding
from patchvsr.method.step_layout import StepLayouts
from patchvsr.method.temporal_detail import clip_noise
from patchvsr.models import PatchVSRTransformer
from patchvsr.pipeline import scheduling
from patchvsr.pipeline.window import Window

CANVAS_DTYPE = torch.float32


class PatchDenoisingMixin:
    """Mixed into `PatchVSRPipeline` (which holds transformer, vae, scheduler, adapter,
    prompt and the config these methods read)."""

    _model: PatchVSRTransformer | None = None
    bf16_matmuls = False  # see `enable_bf16_matmuls`

    @property
    def model(self) -> PatchVSRTransformer:
        if (
            self._model is None
            or self._model.base is not self.transformer
            or self._model.adapter is not self.adapter
        ):
            self._model = PatchVSRTransformer(self.transformer, self.adapter)
        return self._model

    def enable_bf16_matmuls(self, enabled: bool = True) -> None:
        """Run the transformer and the adapter (the detail head included) under bf16 autocast:
        their matrix products, convolutions and attention in bf16, while the latent canvas, the
        fusion and the scheduler stay in the pipeline's dtype. On a CPU with native bf16
        (AVX512-BF16, AMX) a linear layer of mini's size runs 2.8x faster and its detail head
        2.7x, but attention and element-wise ops gain nothing; mini's held-out Y-PSNR moves by
        less than 0.002 dB (docs/performance.md)."""
        self.bf16_matmuls = enabled

    @contextlib.contextmanager
    def model_precision(self) -> Iterator[None]:
        """The autocast context the model runs in (off unless `enable_bf16_matmuls`)."""
        if not self.bf16_matmuls:
            yield
            return
        with torch.autocast(self._execution_device.type, torch.bfloat16), warnings.catch_warnings():
            # The q/k RMS norms keep fp32 weights for bf16 inputs; torch says it once, as a
            # warning a user of the command line has no use for.
            warnings.filterwarnings("ignore", "Mismatch dtype between input and weight")
            yield

    # -- the model on a batch of patches (training calls these too) --------------------------

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

    @property
    def residual(self) -> bool:
        """The model predicts the residual over the upscaled clip's latent."""
        return self.adapter is not None and bool(self.adapter.config.predict_residual)

    def residual_base(self, z_lr: torch.Tensor, denoise: float | None = None) -> torch.Tensor:
        """What a residual model's prediction is added to: `z_lr`, sharpened by the adapter's
        detail head when it has one (`PatchVSRAdapter.base_latent`), at the `denoise` level."""
        return z_lr if self.adapter is None else self.adapter.base_latent(z_lr, denoise)

    @property
    def has_denoise(self) -> bool:
        """Whether the model takes a `denoise` level (a detail head with levels, or the
        input filter of `clean_input`); others ignore it."""
        if self.config.get("clean_input", False):
            return True
        return self.adapter is not None and self.adapter.has_denoise

    def predict_patches(
        self,
        latents: torch.Tensor,  # (B, C, f, h, w) noisy latents of B patches of one size
        cond: torch.Tensor,  # (B, C, f, h, w) their noise-augmented condition latents
        timestep: torch.Tensor,  # (B,)
        boxes: torch.Tensor,  # (B, 4) normalised boxes, on the CPU
        context,  # GlobalKeysValues of the patches' clip(s), or None
        scale: float | torch.Tensor,  # scale factor, one or (B,)
        prompt_embeds: torch.Tensor | None = None,  # (1, L, text_dim); None: the fixed prompt
    ) -> torch.Tensor:
        """The model's velocity prediction (B, C, f, h, w) for a batch of patches, in the
        model's dtype (the inputs are cast to it; `timestep` is not)."""
        n = latents.shape[0]
        dtype = self.transformer.dtype
        text = self.prompt_embeds if prompt_embeds is None else prompt_embeds
        text = text.to(latents.device, dtype).expand(n, -1, -1)
        has_adapter = self.adapter is not None
        location = location_encoding(boxes, scale).to(latents.device) if has_adapter else None
        return self.model(
            latents.to(dtype),
            timestep,
            text,
            cond_latents=cond.to(dtype) if has_adapter else None,
            location=location,
            global_context=context,
            boxes=boxes,
        )

    # -- one window -------------------------------------------------------------------------

    def step_layouts(self, plan: PatchPlan, weight_mode: str = "paper") -> StepLayouts:
        """Each step's plan in latent units and its weights on the latent canvas (a shifted
        grid: one per step), built once for all windows of a call."""
        factor = self.codec.spatial
        return StepLayouts(plan, factor, weight_mode, self._execution_device, CANVAS_DTYPE)

    def prepare_latents(
        self,
        z_lr: torch.Tensor,  # (1, C, f, h, w) latent of the window's upscaled frames
        timestep: torch.Tensor,  # the first timestep that runs
        generator: torch.Generator | None,
        denoise: float | None = None,  # the detail head's level, resolved (not "auto")
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The start latent (fp32, as diffusers keeps latents): the clean one (zero for a
        residual model) noised at `timestep` by the scheduler; the noise-augmented condition;
        and what a residual prediction is added to."""
        z_lr = z_lr.to(CANVAS_DTYPE)

        def randn(salt: int) -> torch.Tensor:
            if self.config.get("clip_noise", False):
                noise = clip_noise(z_lr.shape, generator, salt)
            else:
                noise = torch.randn(z_lr.shape, generator=generator, device="cpu")
            return noise.to(z_lr.device, CANVAS_DTYPE)

        noise = randn(0)
        cond = self.augment_condition(z_lr, randn(1)) if self.adapter is not None else z_lr
        base = z_lr
        if self.residual:
            # The head's convolutions run in the model's precision too: bf16 moves the held-out
            # Y-PSNR by under 0.01 dB (docs/performance.md); the sum stays in the canvas dtype.
            with self.model_precision():
                base = self.residual_base(z_lr, denoise)
        start = torch.zeros_like(z_lr) if self.residual else z_lr
        return scheduling.add_noise(self.scheduler, start, noise, timestep), cond, base

    def step_patches(self, plan_latent: PatchPlan) -> list[int]:
        """The patches of one step's plan (latent cells) that this process evaluates: all of
        them, or inside a process group its share (`patchvsr.parallel`, balanced by tokens)."""
        token_hw = tuple(self.transformer.config.patch_size[1:])
        return parallel.patch_indices(plan_latent, token_hw)

    def fused_prediction(
        self, window: Window, t: torch.Tensor, step: int, text: torch.Tensor | None
    ) -> torch.Tensor:
        """The model's prediction for every patch of step `step`'s layout given the prompt
        embedding `text`, fused on the canvas (`fusion.fuse_patches`), this process's share."""
        plan_latent, weights = window.layout(step)
        t_batch = t.reshape(1).float()  # fp32 as in diffusers: bf16 rounds 236.84 to 237
        text = self.prompt_embeds if text is None else text
        text = text.to(window.latents.device, self.transformer.dtype)
        with self.model_precision():
            context = None
            if window.glob is not None:
                context = self.model.encode_global(window.glob, t_batch, text)

            def predict(x: torch.Tensor, c: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
                t_patches = t_batch.expand(len(x))
                return self.predict_patches(x, c, t_patches, boxes, context, window.scale, text)

            return fusion.fuse_patches(
                predict,
                window.latents,
                window.cond,
                plan_latent,
                weights,
                self.step_patches(plan_latent),
                window.batch_size,
            )

    def denoise_step(self, window: Window, t: torch.Tensor, step: int) -> torch.Tensor:
        """One denoising step on the whole canvas: the fused prediction (with classifier-free
        guidance against `window.negative_text` when `window.guidance_scale` > 1, which runs
        every patch twice), then one scheduler step. Returns the new latents (and leaves
        `window` as it was)."""
        pred = self.fused_prediction(window, t, step, window.text)
        if window.guidance_scale > 1.0:
            uncond = self.fused_prediction(window, t, step, window.negative_text)
            pred = uncond + window.guidance_scale * (pred - uncond)
        pred = parallel.fuse(pred)  # the other processes' shares added in (guidance is linear)
        return self.scheduler.step(pred, t, window.latents, return_dict=False)[0]

    def decode_window(self, window: Window, colour_correction: str = "wavelet") -> torch.Tensor:
        """Decode, crop the padding, correct colours against the upscaled input."""
        out_h, out_w = window.out_hw
        video = self.codec.decode(window.result().to(self.vae.dtype)).float()
        video = video[:, :, : window.num_frames, :out_h, :out_w]
        return colour_fix(video, window.upscaled.float(), colour_correction).clamp(-1, 1)
