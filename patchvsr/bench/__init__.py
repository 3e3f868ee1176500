"""Benchmarks: patch-wise against full-frame inference on the same model, and where time goes.

One module per measurement, each returning plain dicts (the JSON of `python -m patchvsr bench`):

- `scaling`   wall time and peak memory, patch-wise vs full-frame, as the output grows (CPU,
              one fresh process per configuration so the peaks are independent)
- `flops`     forward FLOPs per denoising step of the real 1.3B model at 1080p/1440p/4K, counted
              on the meta device and checked against the analytic formula
- `breakdown` where the time of one patch-wise run goes (transformer, codec, global branch,
              fusion, I/O) and the share outside the model's forward passes
- `sharing`   the global branch once per step against once per patch
- `batching`  patch throughput against the patch batch size
- `cuda`      the 1.3B configuration with random weights at 4K in bf16 on a CUDA GPU
"""
