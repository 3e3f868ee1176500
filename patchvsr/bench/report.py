"""Plain-text tables of a benchmark result (the dicts the measurement modules return)."""

from __future__ import annotations

MB = 1024**2


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
    line = lambda cells: "  ".join(str(c).rjust(w) for c, w in zip(cells, widths, strict=True))  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def _num(value, fmt: str = "{:.1f}", scale: float = 1.0) -> str:
    return "-" if value is None else fmt.format(value / scale)


def format_scaling(s: dict) -> str:
    header = ["output", "patches", "patch s", "full s", "full/patch",
              "patch peak MB", "full peak MB", "patch step MB", "full step MB"]  # fmt: skip
    rows = []
    for r in s["rows"]:
        p, f = r["patch-wise"], r["full-frame"]
        rows.append(
            [
                f"{r['size']}^2",
                p.get("evaluations_per_step", "-"),
                _num(p.get("seconds")),
                _num(f.get("seconds")) if "error" not in f else "n/a",
                _num(r["ratios"].get("seconds"), "{:.2f}x"),
                _num(p.get("peak_bytes"), "{:.0f}", MB),
                _num(f.get("peak_bytes"), "{:.0f}", MB),
                _num(p.get("step_peak_bytes"), "{:.0f}", MB),
                _num(f.get("step_peak_bytes"), "{:.0f}", MB),
            ]
        )
    text = [
        f"Patch-wise vs full-frame, same model, x4, {s['frames']} frames, {s['steps']} step(s), "
        f"{s['patch_batch']} patches per forward pass",
        _table(header, rows),
    ]
    errors = [
        f"  {r['size']}^2 {m}: {r[m]['error']}"
        for r in s["rows"]
        for m in ("patch-wise", "full-frame")
        if "error" in r[m]
    ]
    text += errors
    g = s.get("growth")
    if g:
        parts = []
        for key, label in (("peak_bytes", "peak"), ("step_peak_bytes", "step working memory")):
            a, b = g["patch-wise"].get(key), g["full-frame"].get(key)
            if a is not None and b is not None:
                parts.append(f"{label} +{a / MB:.0f} MB patch-wise vs +{b / MB:.0f} MB full-frame")
        text.append(f"growth {g['from_size']}^2 -> {g['to_size']}^2: " + "; ".join(parts))
    return "\n".join(text)


def format_flops(fl: dict) -> str:
    header = ["output", "full-frame", "paper grid", "evals", "full/grid",
              "base tiles", "evals", "full/tiles", "shifted", "evals", "full/shifted",
              "analytic check"]  # fmt: skip
    rows = []
    for r in fl["rows"]:
        worst = max(abs(r[k]["analytic_error"]) for k in ("paper", "tiles", "full-frame"))
        rows.append(
            [
                f"{r['size'][1]}x{r['size'][0]}",
                f"{r['full-frame']['flops'] / 1e15:.2f} PF",
                f"{r['paper']['flops'] / 1e15:.2f} PF",
                r["paper"]["evaluations"],
                f"{r['ratio']:.1f}x",
                f"{r['tiles']['flops'] / 1e15:.2f} PF",
                r["tiles"]["evaluations"],
                f"{r['ratio_tiles']:.1f}x",
                *_shifted_cells(r),
                f"{worst:.1e} off",
            ]
        )
    title = f"Forward FLOPs per denoising step, {fl['model']}, {fl['frames']} frames (meta device)"
    return title + "\n" + _table(header, rows)


def _shifted_cells(r: dict) -> list:
    """The shifted grid's columns (blank in results saved before it existed)."""
    if "shifted" not in r:
        return ["-", "-", "-"]
    shifted = r["shifted"]
    return [
        f"{shifted['flops'] / 1e15:.2f} PF",
        shifted["evaluations"],
        f"{r['ratio_shifted']:.1f}x",
    ]


def format_breakdown(b: dict, model_parts: tuple[str, ...]) -> str:
    rows = [
        [name + (" *" if name in model_parts else ""), f"{sec:.2f}", f"{b['shares'][name]:.1%}"]
        for name, sec in b["parts"].items()
    ]
    rows.append(["total", f"{b['seconds']:.2f}", "100%"])
    size = f"{b['size'][1]}x{b['size'][0]}"
    return "\n".join(
        [
            f"Where time goes: one patch-wise upscale to {size}, {b['frames']} frames, "
            f"{b['steps']} step(s), {b['evaluations_per_step']} patches "
            f"(* = model forward passes)",
            _table(["part", "seconds", "share"], rows),
            f"outside the model's forward passes: {b['overhead_share']:.1%}"
            + ("" if b["video_io"] else " (no PyAV: video I/O not measured)"),
        ]
    )


def format_sharing(s: dict) -> str:
    if "error" in s:
        return f"Global branch sharing: {s['error']}"
    a, b = s["once_per_step"], s["once_per_patch"]
    return "\n".join(
        [
            f"Global branch, {s['size']}^2, {s['evaluations_per_step']} patches, "
            f"{s['steps']} step(s)",
            _table(
                ["global branch", "runs", "seconds"],
                [
                    ["once per step", a["global_calls"], f"{a['seconds']:.2f}"],
                    ["once per patch", b["global_calls"], f"{b['seconds']:.2f}"],
                ],
            ),
            f"sharing it: {s['speedup']:.2f}x faster, outputs differ by at most "
            f"{s['max_abs_difference']:.1e}",
        ]
    )


def format_batching(b: dict) -> str:
    rows = [
        [
            r["batch"],
            f"{r['patches_per_second']:.2f}",
            f"{r['denoise_seconds']:.2f}",
            _num(r["step_peak_bytes"], "{:.0f}", MB),
        ]  # fmt: skip
        for r in b["rows"]
    ]
    tail = f"best: {b['best_batch']} patches per pass"
    if b.get("speedup_over_batch_1"):
        tail += f", {b['speedup_over_batch_1']:.2f}x the throughput of one at a time"
    return "\n".join(
        [
            f"Patch batching, {b['size']}^2, {b['evaluations_per_step']} patches per step",
            _table(["batch", "patches/s", "seconds", "step MB"], rows),
            tail,
        ]
    )


def format_cuda(c: dict) -> str:
    if "skipped" in c or "error" in c:
        return f"CUDA: {c.get('skipped') or c.get('error')}"
    rows = []
    for mode in ("patch-wise", "full-frame"):
        if mode in c:
            r = c[mode]
            rows.append(
                [
                    mode,
                    r["evaluations_per_step"],
                    f"{r['seconds_per_step']:.2f}",
                    _num(r["peak_bytes"], "{:.1f}", 1024**3),
                    f"{r['flops_per_step'] / 1e15:.2f}",
                    f"{r['tflops_per_second']:.0f}",
                    _num(r["mfu"], "{:.1%}"),
                ]
            )
    size = f"{c['size'][1]}x{c['size'][0]}x{c['frames']}"
    text = [
        f"{c['device']}, {c['model']}, {c['dtype']}, {size}",
        _table(["mode", "evals", "s/step", "peak GiB", "PFLOP/step", "TFLOP/s", "MFU"], rows),
    ]
    if "speedup" in c:
        text.append(f"patch-wise step {c['speedup']:.1f}x faster than full-frame")
    if "extrapolated_4k_upscale" in c:
        e = c["extrapolated_4k_upscale"]
        text.append(f"extrapolated 4K upscale: {e['seconds']:.0f} s ({e['how']})")
    return "\n".join(text)


def format_clip(c: dict) -> str:
    clip, out = c["clip"], c["output"]
    head = (
        f"End to end: upscale --scale 4 of a real {clip['width']}x{clip['height']} clip, "
        f"{clip['frames']} frames at {clip['fps']:g} fps, to {out['width']}x{out['height']} "
        "(command line, fresh process, model loading included)"
    )
    lines = [head]
    for key, name in (("model", c["model_name"]), ("bicubic", "bicubic")):
        run = c[key]
        if "error" in run:
            lines.append(f"  {name}: {run['error']}")
            continue
        line = f"  {name}: {run['seconds']:.1f} s"
        if "seconds_per_frame" in run:
            line += (
                f" ({run['seconds_per_frame']:.2f} s per frame, "
                f"{run['times_real_time']:.1f}x the clip's duration)"
            )
        lines.append(line)
    if "model_over_bicubic" in c:
        lines.append(f"  {c['model_name']} / bicubic: {c['model_over_bicubic']:.1f}x")
    return "\n".join(lines)


def format_report(r: dict) -> str:
    m, model = r["machine"], r["model"]
    memory = f", {m['memory_bytes'] / 1024**3:.0f} GB" if m.get("memory_bytes") else ""
    load = m.get("load_average")
    head = f"Machine: {m['cpu']}, {m['cores']} cores{memory}, torch {m['torch']}" + (
        f", load average {load:.1f} -> {m['load_average_end']:.1f}" if load is not None else ""
    )
    if "weights" in model:
        head += (
            f"\nModel: {model['name']} ({model['weights']} weights, "
            f"{model['parameters'] / 1e6:.2f}M parameters, {model['layers']} layers of width "
            f"{model['dim']}, {model['codec']}, {model['patch']}-pixel patches), "
            f"{model['threads']} torch threads"
        )
    from patchvsr.bench.breakdown import MODEL_PARTS

    sections = [head, format_scaling(r["scaling"]), format_flops(r["flops"])]
    for key, fmt in (
        ("breakdown", lambda b: format_breakdown(b, MODEL_PARTS)),
        ("sharing", format_sharing),
        ("batching", format_batching),
    ):
        sections.append(f"{key}: {r[key]['error']}" if "error" in r[key] else fmt(r[key]))
    sections.append(format_clip(r["clip"]))
    if "processes" in r:
        from patchvsr.bench.processes import format_processes

        sections.append(format_processes(r["processes"], r["balance"]))
    sections.append(format_cuda(r["cuda"]))
    if "pipeline_1080p" in r["cuda"]:
        sections.append(format_breakdown(r["cuda"]["pipeline_1080p"], MODEL_PARTS))
    sections.append(f"({r['seconds']:.0f} s in all)")
    return "\n\n".join(sections)
