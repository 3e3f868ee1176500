"""Forward FLOPs per denoising step of the real 1.3B model, patch-wise and full-frame.

The model is built on the meta device (shapes only: no weights, no memory, no time) and run
under torch's `FlopCounterMode` on the pipeline's own patch plan: every distinct patch shape
once, times how many patches have it, plus the global branch once per step. Full-frame is the
same model on one patch as large as the frame, as `PatchVSRPipeline(full_frame=True)` runs it.
`analytic_step_flops` gives the same numbers from the architecture alone, as a check.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

from patchvsr.cost import block_flops
from patchvsr.method.context import global_view_size
from patchvsr.method.grid import PatchPlan, heaviest_step
from patchvsr.method.location import location_encoding
from patchvsr.pipeline.builders import build_wan_1_3b
from patchvsr.pipeline.pipeline_patchvsr import PatchVSRPipeline

SCALE = 4


@dataclass(frozen=True)
class Shapes:
    """Token counts of one step: `patches` maps a patch's token count to how many there are."""

    patches: dict[int, int]
    global_tokens: int  # tokens of the global view (before its 2x2 pooling)
    pooled_global_tokens: int
    text_tokens: int


def latent_shape(pipe: PatchVSRPipeline, height: int, width: int, frames: int) -> tuple:
    codec = pipe.codec
    return (
        codec.channels,
        codec.latent_frames(frames),
        height // codec.spatial,
        width // codec.spatial,
    )


def global_latent_shape(pipe: PatchVSRPipeline, out_hw: tuple[int, int], frames: int) -> tuple:
    in_h, in_w = out_hw[0] // SCALE, out_hw[1] // SCALE
    gh, gw = global_view_size(in_h, in_w, pipe.config.base_size, pipe.align)
    return latent_shape(pipe, gh, gw, frames)


def _tokens(pipe: PatchVSRPipeline, latent_shape: tuple) -> int:
    p_t, p_h, p_w = pipe.transformer.config.patch_size
    _, f, h, w = latent_shape
    return (f // p_t) * (h // p_h) * (w // p_w)


def scheme_plan(pipe: PatchVSRPipeline, out_hw: tuple[int, int], scheme: str) -> PatchPlan:
    """The plan the pipeline runs for a scheme, or for "full-frame" (one whole-frame patch)."""
    if scheme == "full-frame":
        return pipe.plan_for(out_hw, full_frame=True)
    return pipe.plan_for(out_hw, scheme=scheme)


class StepCounter:
    """Counts the forward FLOPs of one denoising step on a meta-device pipeline."""

    def __init__(self, pipe: PatchVSRPipeline | None = None) -> None:
        self.pipe = pipe or build_wan_1_3b("meta", torch.float32, with_vae=False)
        self.model = self.pipe.model
        self.text = self.pipe.prompt_embeds
        self.timestep = torch.full((1,), 500.0, device=self.text.device)
        self._cache: dict[tuple, int] = {}
        self._contexts: dict[tuple, object] = {}

    def _count(self, fn) -> int:
        with FlopCounterMode(display=False) as counter:
            fn()
        return int(counter.get_total_flops())

    def global_flops(self, global_shape: tuple) -> int:
        glob = torch.empty(1, *global_shape, device=self.text.device)
        return self._count(lambda: self.model.encode_global(glob, self.timestep, self.text))

    def patch_flops(self, latent_shape: tuple, global_shape: tuple) -> int:
        """One patch (batch of one) with the adapter's three parts on."""
        key = (latent_shape, global_shape)
        if key not in self._cache:
            device = self.text.device
            if global_shape not in self._contexts:
                glob = torch.empty(1, *global_shape, device=device)
                self._contexts[global_shape] = self.model.encode_global(
                    glob, self.timestep, self.text
                )
            context = self._contexts[global_shape]
            x = torch.empty(1, *latent_shape, device=device)
            boxes = torch.tensor([[0.0, 0.0, 0.5, 0.5]])
            location = location_encoding(boxes, float(SCALE)).to(device)
            self._cache[key] = self._count(
                lambda: self.model(
                    x,
                    self.timestep,
                    self.text,
                    cond_latents=x,
                    location=location,
                    global_context=context,
                    boxes=boxes,
                )
            )
        return self._cache[key]

    def step(self, out_hw: tuple[int, int], frames: int, scheme: str = "paper") -> dict:
        """One step's FLOPs for the plan of `scheme` ("paper", "tiles", "shifted" or
        "full-frame"). A shifted plan's steps differ in patch sizes: its heaviest step counts."""
        pipe = self.pipe
        g_shape = global_latent_shape(pipe, out_hw, frames)
        g_tokens = _tokens(pipe, g_shape)
        pooled = g_shape[1] * -(-g_shape[2] // 4) * -(-g_shape[3] // 4)  # 2x2 token pooling
        text_tokens = self.text.shape[1]

        def analytic_patch(p) -> int:
            n = _tokens(pipe, latent_shape(pipe, p.height, p.width, frames))
            return analytic_step_flops(pipe, Shapes({n: 1}, g_tokens, pooled, text_tokens))

        # The heaviest step is picked by the analytic count (a shifted grid has many distinct
        # patch shapes over its steps: counting each would take minutes), then counted.
        plan = heaviest_step(scheme_plan(pipe, out_hw, scheme), analytic_patch)
        shapes = Counter(latent_shape(pipe, p.height, p.width, frames) for p in plan.patches)
        patches = sum(self.patch_flops(s, g_shape) * n for s, n in shapes.items())
        global_branch = self.global_flops(g_shape)
        tokens: Counter[int] = Counter()
        for s, n in shapes.items():
            tokens[_tokens(pipe, s)] += n
        analytic = analytic_step_flops(pipe, Shapes(dict(tokens), g_tokens, pooled, text_tokens))
        counted = patches + global_branch
        return {
            "evaluations": plan.evaluations_per_step,
            "tokens": sum(t * n for t, n in tokens.items()),
            "flops": counted,
            "global_branch_flops": global_branch,
            "analytic_flops": analytic,
            "analytic_error": analytic / counted - 1.0,
        }


def analytic_step_flops(pipe: PatchVSRPipeline, shapes: Shapes) -> int:
    """The step's forward FLOPs from the architecture: what `FlopCounterMode` counts (matrix
    products, convolutions, attention), 2 FLOPs per multiply-add."""
    cfg, acfg = pipe.transformer.config, pipe.adapter.config
    d, ffn, layers, t = acfg.dim, cfg.ffn_dim, cfg.num_layers, shapes.text_tokens
    cell = cfg.in_channels * cfg.patch_size[0] * cfg.patch_size[1] * cfg.patch_size[2]
    embed = 2 * (cfg.freq_dim * d + d * d) + 2 * d * 6 * d + 2 * t * (cfg.text_dim * d + d * d)
    location = 2 * (pipe.adapter.location_mlp[0].in_features * d + d * d) + 2 * d * 6 * d
    ng, ng_pooled = shapes.global_tokens, shapes.pooled_global_tokens

    def patch(n: int) -> int:
        base = embed + 2 * n * d * cell * 2 + layers * block_flops(n, t, d, ffn)
        adapter = (
            location
            + 2 * n * d * cell  # condition embedding
            + 2 * n * d * d  # condition projection
            + acfg.num_patch_layers * block_flops(n, t, d, ffn)
            + layers * (2 * n * d * d + 4 * n * ng_pooled * d)  # hints, global attention
        )
        return base + adapter

    global_branch = (
        embed
        + 2 * ng * d * cell
        + acfg.num_global_layers * block_flops(ng, t, d, ffn)
        + layers * (4 * ng_pooled * d * d + 4 * d * d)  # K_g, V_g and their ROI offsets
    )
    return sum(patch(n) * count for n, count in shapes.patches.items()) + global_branch


def real_scale_flops(sizes: tuple[tuple[int, int], ...], frames: int) -> dict:
    """Per output size: the paper's grid (base + seam patches), the base patches alone, and
    one full-frame pass."""
    counter = StepCounter()
    rows = []
    for out_hw in sizes:
        row = {"size": [out_hw[0], out_hw[1]]}
        for scheme in ("paper", "tiles", "shifted", "full-frame"):
            row[scheme] = counter.step(out_hw, frames, scheme)
        full = row["full-frame"]["flops"]
        row["ratio"] = full / row["paper"]["flops"]  # full-frame over the paper's grid
        row["ratio_tiles"] = full / row["tiles"]["flops"]  # ... over the base patches alone
        row["ratio_shifted"] = full / row["shifted"]["flops"]  # ... over the shifted grid
        rows.append(row)
    return {"model": "Wan2.1-T2V-1.3B + PatchVSR adapter", "frames": frames, "rows": rows}
