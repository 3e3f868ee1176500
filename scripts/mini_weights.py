"""Move mini weights between model folders and training checkpoints.

    python scripts/mini_weights.py init patchvsr/models/patchvsr-mini configs/mini-v2.toml \
        .devcache/mini-v1.safetensors
    python scripts/mini_weights.py export runs/mini-v2/checkpoint/ema.safetensors \
        patchvsr/models/patchvsr-mini runs/mini-v2/step-N

`init` writes a model folder's trainable weights as a checkpoint weights file, for
`run.init_weights`: a new run then starts from a shipped model (fine-tuning with another
recipe). The names are those of `patchvsr.train.model.named_weights`; the fixed prompt
embedding does not train, so it must be the one the config builds (checked here). A config
may add a detail head to the shipped model: the head starts fresh, as a no-op.

`export` writes a checkpoint's weights (its EMA, say) into a copy of a model folder of the
same architecture: a running training run's checkpoint becomes a pipeline to evaluate.

`scale-output` writes a copy of a model folder whose transformer adds its residual scaled by a
factor (its last layer's weights and bias scaled: for a residual model predicting the sample,
that is exactly the x0 residual scaled, at every noise level). Mini's one-step residual carries
a part that depends on the sampling noise, a faint grain in flat areas; at half strength it
keeps most of the detail and a quarter of that grain's variance.

    python scripts/mini_weights.py scale-output patchvsr/models/patchvsr-mini 0.5 OUT_DIR

`clean-head` writes a copy of a model folder with a second detail head, the checkpoint's head
(a `configs/mini-v5.toml` run, trained on input cleaned at denoise 1): the denoise control
interpolates the two heads' weights (`PatchVSRAdapter.base_latent`).

    python scripts/mini_weights.py clean-head runs/mini-v5/checkpoint/ema.safetensors \
        patchvsr/models/patchvsr-mini OUT_DIR
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from patchvsr.pipeline.pipeline_patchvsr import PatchVSRPipeline  # noqa: E402
from patchvsr.train.config import load_config  # noqa: E402
from patchvsr.train.model import (  # noqa: E402
    DETAIL_PARAMETERS,
    build_pipeline,
    named_weights,
    trainable_parameters,
)


def init(model: str, config: str, out: str) -> None:
    cfg = load_config(config)
    shipped = PatchVSRPipeline.from_pretrained(model)
    fresh = build_pipeline(cfg.model, cfg.run.seed)
    if not torch.equal(shipped.prompt_embeds, fresh.prompt_embeds):
        raise SystemExit(f"{model} was built with another prompt embedding (seed or size)")
    wanted = named_weights(fresh)  # the frozen parts too (a `trainable = "detail"` run)
    weights = {n: p.detach().contiguous() for n, p in named_weights(shipped).items()}
    # Parts the config adds to the shipped model (a detail head) start at their fresh init,
    # which leaves the shipped model's output as it was (their last layer is zero).
    added = {n: p.detach().contiguous() for n, p in wanted.items() if n not in weights}
    if not set(weights) <= set(wanted) or any(not n.startswith(DETAIL_PARAMETERS) for n in added):
        raise SystemExit(f"{model} does not hold the model of {config}")
    weights |= added
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    save_file(weights, out)
    print(f"{out}: {len(weights)} tensors from {model}")


def export(weights_file: str, model: str, out: str) -> None:
    pipe = PatchVSRPipeline.from_pretrained(model)
    params = trainable_parameters(pipe, "all")
    weights = load_file(weights_file)
    if set(weights) != set(params):
        raise SystemExit(f"{weights_file} does not hold the weights of {model}'s model")
    with torch.no_grad():
        for name, p in params.items():
            p.copy_(weights[name])
    pipe.save_pretrained(out)
    print(f"{out}: {model} with the weights of {weights_file}")


def clean_head(weights_file: str, model: str, out: str) -> None:
    pipe = PatchVSRPipeline.from_pretrained(model)
    if pipe.adapter is None or pipe.adapter.detail is None:
        raise SystemExit(f"{model} has no detail head")
    weights = load_file(weights_file)
    head = {
        name.removeprefix(DETAIL_PARAMETERS): w
        for name, w in weights.items()
        if name.startswith(DETAIL_PARAMETERS)
    }
    try:
        adapter = pipe.adapter.with_clean_head()
    except ValueError as e:
        raise SystemExit(f"{model}: {e}") from e
    try:
        adapter.detail_clean.load_state_dict(head)
    except RuntimeError as e:
        raise SystemExit(f"{weights_file} does not hold a head of {model}'s shape: {e}") from e
    pipe.register_modules(adapter=adapter)
    pipe.save_pretrained(out)
    print(f"{out}: {model} with the clean-input head of {weights_file}")


def scale_output(model: str, factor: float, out: str) -> None:
    pipe = PatchVSRPipeline.from_pretrained(model)
    adapter = pipe.adapter
    if adapter is None or not adapter.config.predict_residual:
        raise SystemExit(f"{model} does not predict a residual: its output cannot be scaled")
    if adapter.config.prediction_type != "sample":
        raise SystemExit(f"{model} predicts the velocity: scaling its last layer is not its x0")
    with torch.no_grad():
        pipe.transformer.proj_out.weight.mul_(factor)
        pipe.transformer.proj_out.bias.mul_(factor)
    pipe.save_pretrained(out)
    print(f"{out}: {model} with its transformer's residual scaled by {factor:g}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("init", help="model folder -> checkpoint weights file")
    p.add_argument("model")
    p.add_argument("config")
    p.add_argument("out")
    p = sub.add_parser("export", help="checkpoint weights file -> model folder")
    p.add_argument("weights")
    p.add_argument("model", help="a model folder of the same architecture")
    p.add_argument("out")
    p = sub.add_parser("clean-head", help="checkpoint's head -> a model's head for cleaned input")
    p.add_argument("weights")
    p.add_argument("model", help="the model folder that gets the second head")
    p.add_argument("out")
    p = sub.add_parser("scale-output", help="a model with its transformer's residual scaled")
    p.add_argument("model")
    p.add_argument("factor", type=float)
    p.add_argument("out")
    args = parser.parse_args()
    if args.command == "init":
        init(args.model, args.config, args.out)
    elif args.command == "export":
        export(args.weights, args.model, args.out)
    elif args.command == "scale-output":
        scale_output(args.model, args.factor, args.out)
    else:
        clean_head(args.weights, args.model, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
