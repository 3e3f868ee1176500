"""What a patch plan costs the 1.3B model, and the plan's report as `plan` and the demo show it.

`block_flops` counts one Wan block; `ModelCost` turns it into the work of one evaluation from
the architecture's numbers (the patch plan's estimate), and `patchvsr.bench.flops` checks the
same formula against torch's FLOP counter on the real configuration.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass

from patchvsr.method.grid import PatchPlan, heaviest_step
from patchvsr.models.configs import WAN_T2V_1_3B, WAN_TEXT_TOKENS


def block_flops(n: int, t: int, d: int, ffn: int) -> int:
    """Forward FLOPs of one Wan block on n tokens with t text tokens, width d (matrix products
    and attention only, 2 per multiply-add). Self-attention grows with the square of n, which
    is why one full-frame pass costs so much."""
    return (
        8 * n * d * d  # self-attention q, k, v, out
        + 4 * n * n * d  # self-attention scores and weighted values
        + 4 * n * d * d  # cross-attention q, out
        + 4 * t * d * d  # cross-attention k, v of the text
        + 4 * n * t * d  # cross-attention scores and weighted values
        + 4 * n * d * ffn  # feed-forward
    )


@dataclass(frozen=True)
class ModelCost:
    """The shape of the base transformer, enough to count its work (Wan2.1-T2V-1.3B)."""

    name: str = "Wan2.1-T2V-1.3B"
    dim: int = WAN_T2V_1_3B["num_attention_heads"] * WAN_T2V_1_3B["attention_head_dim"]
    ffn_dim: int = WAN_T2V_1_3B["ffn_dim"]
    layers: int = WAN_T2V_1_3B["num_layers"]
    text_tokens: int = WAN_TEXT_TOKENS
    vae_spatial: int = 8
    vae_temporal: int = 4
    patch: int = WAN_T2V_1_3B["patch_size"][1]  # 2x2 latent cells per token

    def latent_frames(self, frames: int) -> int:
        return (frames - 1) // self.vae_temporal + 1

    def tokens(self, height: int, width: int, frames: int) -> int:
        cell = self.vae_spatial * self.patch  # 16 pixels per token side; edges are padded up
        return math.ceil(height / cell) * math.ceil(width / cell) * self.latent_frames(frames)

    def flops(self, tokens: int) -> float:
        """Forward FLOPs of one evaluation of the base model."""
        return float(block_flops(tokens, self.text_tokens, self.dim, self.ffn_dim) * self.layers)


@dataclass(frozen=True)
class WorkEstimate:
    model: str
    frames: int
    latent_frames: int
    tokens_per_patch: list[int]
    tokens_per_step: int
    flops_per_step: float
    full_frame_tokens: int
    full_frame_flops: float


def estimate_work(plan: PatchPlan, frames: int = 33, cost: ModelCost | None = None) -> WorkEstimate:
    """Transformer work of one denoising step over all patches, beside one full-frame pass
    with global attention (base model only; the adapter branches add a few percent)."""
    cost = cost or ModelCost()
    plan = heaviest_step(plan, lambda p: cost.flops(cost.tokens(p.height, p.width, frames)))
    tokens = [cost.tokens(p.height, p.width, frames) for p in plan.patches]
    full = cost.tokens(plan.height, plan.width, frames)
    return WorkEstimate(
        model=cost.name,
        frames=frames,
        latent_frames=cost.latent_frames(frames),
        tokens_per_patch=tokens,
        tokens_per_step=sum(tokens),
        flops_per_step=sum(cost.flops(n) for n in tokens),
        full_frame_tokens=full,
        full_frame_flops=cost.flops(full),
    )


def describe_work(work: WorkEstimate) -> str:
    low, high = min(work.tokens_per_patch), max(work.tokens_per_patch)
    per_patch = f"{low:,}" if low == high else f"{low:,}-{high:,}"
    ratio = work.full_frame_flops / work.flops_per_step
    return "\n".join(
        [
            f"model work    {work.model}, {work.frames} frames ({work.latent_frames} latent), "
            "one token per 16x16 pixels; per denoising step:",
            f"  patches     {len(work.tokens_per_patch)} x {per_patch} tokens = "
            f"{work.tokens_per_step:,} tokens, {work.flops_per_step / 1e15:.2f} PFLOP",
            f"  full frame  {work.full_frame_tokens:,} tokens in one pass with global "
            f"attention, {work.full_frame_flops / 1e15:.2f} PFLOP ({ratio:.1f}x the patches)",
        ]
    )


def plan_report(plan: PatchPlan, in_hw: tuple[int, int], out_hw: tuple[int, int]) -> str:
    """The readable summary that `plan` prints and the demo shows: the sizes, the padded canvas
    the model works on when it differs, the plan and its cost."""
    sy, sx = out_hw[0] / in_hw[0], out_hw[1] / in_hw[1]
    scale = f"x{sx:.4g}" if math.isclose(sx, sy, rel_tol=1e-3) else f"x{sx:.4g} (w), x{sy:.4g} (h)"
    lines = [
        f"input         {in_hw[1]}x{in_hw[0]} (W x H), scale {scale}",
        f"output        {out_hw[1]}x{out_hw[0]} (W x H)",
    ]
    if (plan.height, plan.width) != tuple(out_hw):
        lines.append(
            f"canvas        {plan.width}x{plan.height}, padded to whole tokens "
            f"({plan.align} px); the padding is cropped off"
        )
    lines += [line for line in plan.summary().splitlines() if not line.startswith("output")]
    lines.append(describe_work(estimate_work(plan)))
    return "\n".join(lines)


def plan_json(plan: PatchPlan, in_hw: tuple[int, int], out_hw: tuple[int, int]) -> dict:
    data = plan.to_dict()
    data["in_size"] = list(in_hw)
    data["canvas_size"] = [plan.height, plan.width]
    data["out_size"] = list(out_hw)
    data["work"] = asdict(estimate_work(plan))
    return data


def format_json(data: dict) -> str:
    """JSON with one top-level key per line and one list item per line: a 4K plan stays
    readable (and diffable) instead of nine lines per patch."""

    def value(v) -> str:
        if isinstance(v, list) and v and isinstance(v[0], dict):
            return "[\n" + ",\n".join(f"    {json.dumps(item)}" for item in v) + "\n  ]"
        if isinstance(v, dict):
            return "{" + ", ".join(f"{json.dumps(k)}: {json.dumps(x)}" for k, x in v.items()) + "}"
        return json.dumps(v)

    return "{\n" + ",\n".join(f"  {json.dumps(k)}: {value(v)}" for k, v in data.items()) + "\n}"
