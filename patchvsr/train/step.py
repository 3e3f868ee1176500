"""One training step's loss: rectified flow on patches, with inference's own inputs.

The whole HR scene and its LR clip go through `PatchVSRPipeline.encode_inputs` (bicubic
upscale, padding, encoding, global view), the condition is noise-augmented by
`augment_condition`, and the model runs through `predict_patches` (location encoding, ROI
masks): the same methods `__call__` uses, so training and inference cannot drift apart.

Rectified flow: x_s = (1 - s) x0 + s e and the model predicts v = e - x0, with s drawn by the
timestep sampler and t = 1000 s. With `predict_residual`, x0 is the residual over the upscaled
input (z_HR - z_LR, or z_HR minus the detail head's sharpened z_LR), as the pipeline expects.
A model whose adapter says `prediction_type = "sample"` predicts x0 (returned as a velocity)
and is trained on the x0 error.

Guidance follows the pipeline's rule (`patchvsr.pipeline`, guidance_scale 1): every sample is
trained with the one fixed prompt, never dropped, so the model has no unconditional prediction
to guide against, and inference runs it once per patch and step.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from patchvsr.method.grid import Patch
from patchvsr.method.location import normalized_box
from patchvsr.pipeline.pipeline_patchvsr import PatchVSRPipeline, pad_video
from patchvsr.train.config import OptimConfig
from patchvsr.train.data import Batch, as_video


def sample_sigmas(n: int, o: OptimConfig, generator: torch.Generator) -> torch.Tensor:
    """Noise levels s in (0, 1] for n samples, then shifted towards 1 by `timestep_shift`
    (s' = k s / (1 + (k - 1) s), SD3's shift): few-step sampling from a noisy start spends
    its steps at high noise, where the velocity loss is small but decides the result, while
    low-noise samples mostly add gradient noise (their noise is unpredictable)."""
    device = generator.device
    if o.timestep_sampler == "logit_normal":  # SD3's choice: most weight at mid noise
        u = torch.randn(n, generator=generator, device=device) * o.logit_std + o.logit_mean
        sigma = torch.sigmoid(u)
    else:
        sigma = torch.rand(n, generator=generator, device=device)
    k = o.timestep_shift
    # Not below the last noise level a sampler uses (and the model's x0 <-> v conversion).
    return (k * sigma / (1 + (k - 1) * sigma)).clamp(1e-3, 1.0)


def crop_latents(
    z: torch.Tensor, scene: torch.Tensor, boxes: torch.Tensor, spatial: int
) -> torch.Tensor:
    """Patch crops (B, C, f, h, w) of scene latents (S, C, f, H, W): patch i is cut from scene
    `scene[i]` at pixel box `boxes[i]`."""
    crops = []
    for s, (y0, x0, y1, x1) in zip(scene.tolist(), (boxes // spatial).tolist(), strict=True):
        crops.append(z[s, :, :, y0:y1, x0:x1])
    return torch.stack(crops)


def normalized_boxes(boxes: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Pixel boxes (B, 4) -> normalised boxes (B, 4) as the pipeline makes them."""
    return torch.tensor(
        [normalized_box(Patch(*b), height, width) for b in boxes.tolist()], dtype=torch.float32
    )


def patch_noise(
    seeds: torch.Tensor, shape: tuple[int, ...], o: OptimConfig, device, dtype
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Noise, noise level and condition noise of each patch, drawn from the patch's own seed:
    a patch gets the same draws whichever process trains it, in a batch of any size."""
    noise, sigma, cond_noise = [], [], []
    for seed in seeds.tolist():
        g = torch.Generator(device=device).manual_seed(seed)
        noise.append(torch.randn(shape, generator=g, device=device, dtype=dtype))
        sigma.append(sample_sigmas(1, o, g).to(dtype))
        cond_noise.append(torch.randn(shape, generator=g, device=device, dtype=dtype))
    return torch.stack(noise), torch.cat(sigma), torch.stack(cond_noise)


@torch.no_grad()
def scene_latents(pipe: PatchVSRPipeline, batch: Batch):
    """The LR scenes as inference sees them (their latent and global view) and the HR targets
    in the same latent space. The autoencoder is frozen: no graph through it (at 512x512x33
    the Wan VAE's would be large)."""
    _, _, frames, height, width = batch.hr.shape
    _, z_lr, glob = pipe.encode_inputs(as_video(batch.lr), (height, width), (height, width))
    hr = pad_video(as_video(batch.hr), height, width, pipe.codec.padded_frames(frames))
    return z_lr, glob, pipe.codec.encode(hr).to(pipe.transformer.dtype)


def predict_batch(
    pipe: PatchVSRPipeline,
    batch: Batch,
    z_lr_patch: torch.Tensor,  # (B, C, f, h, w) the patches' upscaled-input latents
    glob: torch.Tensor | None,  # the scenes' global views
    noisy: torch.Tensor,  # (B, C, f, h, w) the patches' noisy latents
    timestep: torch.Tensor,  # (B,) fp32
    cond_noise: torch.Tensor,  # (B, C, f, h, w) the condition's augmentation noise
) -> torch.Tensor:
    """The model's velocity for the batch's patches, conditioned as inference conditions them:
    the noise-augmented condition, the patches' boxes and their scenes' global views."""
    height, width = batch.hr.shape[3:]
    cond = pipe.augment_condition(z_lr_patch, cond_noise)
    boxes = normalized_boxes(batch.boxes, height, width)
    context = None
    if glob is not None:
        text = pipe.prompt_embeds.to(noisy.device, pipe.transformer.dtype)
        text = text.expand(len(boxes), -1, -1)
        # One global view per patch (its scene's), each at the patch's own noise level.
        context = pipe.model.encode_global(glob[batch.scene.to(glob.device)], timestep, text)
    return pipe.predict_patches(noisy, cond, timestep, boxes, context, float(batch.scale))


def flow_loss(pipe: PatchVSRPipeline, batch: Batch, o: OptimConfig) -> torch.Tensor:
    """Mean squared error of the velocity prediction on the batch's patches."""
    codec = pipe.codec
    dtype = pipe.transformer.dtype
    z_lr, glob, z_hr = scene_latents(pipe, batch)
    z_lr_patch = crop_latents(z_lr, batch.scene, batch.boxes, codec.spatial)
    x0 = crop_latents(z_hr, batch.scene, batch.boxes, codec.spatial)
    if pipe.adapter is not None and pipe.adapter.config.predict_residual:
        # The base (sharpened by a detail head, if any) on the whole scene, then cut, as
        # inference runs the head on the whole canvas: the head learns through the target.
        base = pipe.residual_base(z_lr, _levels(pipe, batch))
        x0 = x0 - crop_latents(base, batch.scene, batch.boxes, codec.spatial)

    noise, sigma, cond_noise = patch_noise(batch.seeds, x0.shape[1:], o, x0.device, dtype)
    s = sigma.view(-1, 1, 1, 1, 1)
    # The noisy input holds no gradient to the detail head: the head learns what the base
    # should be, not how to make the transformer's input easier.
    noisy = (1.0 - s) * x0.detach() + s * noise
    # fp32, as inference passes it (and diffusers): bf16 would round 236.84 to 237
    timestep = sigma.float() * 1000.0
    velocity = predict_batch(pipe, batch, z_lr_patch, glob, noisy, timestep, cond_noise)
    if pipe.adapter is not None and pipe.adapter.config.prediction_type == "sample":
        # x0 back from the velocity the model returns (exactly its raw output): the loss is the
        # x0 error, which weighs the high-noise steps that few-step sampling relies on.
        estimate = noisy.float() - s.float() * velocity.float()
        return F.mse_loss(estimate, x0.float())
    return F.mse_loss(velocity.float(), (noise - x0).float())


def detail_loss(pipe: PatchVSRPipeline, batch: Batch) -> torch.Tensor:
    """`trainable = "detail"`: the detail head alone, its sharpened base against the HR latent
    on the whole scenes (the transformer does not run). L1, as SR networks are trained (EDSR):
    it keeps edges sharper than the squared error, whose optimum blurs what is uncertain."""
    z_lr, _, z_hr = scene_latents(pipe, batch)
    return F.l1_loss(pipe.residual_base(z_lr, _levels(pipe, batch)).float(), z_hr.float())


def detail_under_transformer_loss(
    pipe: PatchVSRPipeline, batch: Batch, o: OptimConfig
) -> torch.Tensor:
    """`trainable = "detail"` with `keep_transformer`: the head under a frozen transformer
    that adds its residual to the head's base. The output is what one-step inference makes
    (from pure noise, sigma 1: x0 = noise - velocity) plus the base, against the HR latent
    (L1). The transformer's residual does not depend on the head (it sees the condition, not
    the base), so it runs without a graph; the head learns what the transformer leaves."""
    codec = pipe.codec
    dtype = pipe.transformer.dtype
    z_lr, glob, z_hr = scene_latents(pipe, batch)
    base = pipe.residual_base(z_lr, _levels(pipe, batch))
    base = crop_latents(base, batch.scene, batch.boxes, codec.spatial)
    target = crop_latents(z_hr, batch.scene, batch.boxes, codec.spatial)
    with torch.no_grad():
        z_lr_patch = crop_latents(z_lr, batch.scene, batch.boxes, codec.spatial)
        noise, _, cond_noise = patch_noise(batch.seeds, target.shape[1:], o, target.device, dtype)
        timestep = torch.full((len(batch.boxes),), 1000.0, device=target.device)
        velocity = predict_batch(pipe, batch, z_lr_patch, glob, noise, timestep, cond_noise)
        residual = noise.float() - velocity.float()
    return F.l1_loss(base.float() + residual, target.float())


def _levels(pipe: PatchVSRPipeline, batch: Batch) -> torch.Tensor | None:
    """Each scene's degradation level, for a detail head with levels (its `denoise` input)."""
    if not pipe.has_denoise or batch.levels is None:
        return None
    return batch.levels.to(batch.hr.device)


class TrainStep(torch.nn.Module):
    """The trained parts of a pipeline (base transformer and adapter) as one module whose
    forward is the loss: what `accelerator.prepare` wraps (DDP synchronises the gradients of
    the parameters a forward through the wrapper used; FSDP shards them). The autoencoder is
    deliberately not a submodule: frozen, in eval mode, never wrapped."""

    def __init__(
        self,
        pipe: PatchVSRPipeline,
        optim: OptimConfig,
        head_only: bool = False,
        under_transformer: bool = False,
    ) -> None:
        super().__init__()
        self.transformer = pipe.transformer
        self.adapter = pipe.adapter
        self.pipe, self.optim = pipe, optim  # a DiffusionPipeline is not an nn.Module
        self.head_only = head_only  # trainable = "detail": `detail_loss`
        self.under_transformer = under_transformer  # and keep_transformer

    def forward(self, batch: Batch) -> torch.Tensor:
        if self.head_only and self.under_transformer:
            return detail_under_transformer_loss(self.pipe, batch, self.optim)
        if self.head_only:
            return detail_loss(self.pipe, batch)
        return flow_loss(self.pipe, batch, self.optim)
