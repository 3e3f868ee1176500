"""The diffusers pipeline and what it needs to run:

- `pipeline_patchvsr`: `PatchVSRPipeline`, one call from a low-resolution clip to its upscale;
- `window`: the state of one temporal window while it is denoised;
- `codec`: latents to pixels and back;
- `loading`, `builders`: a pipeline from saved folders, or built from the model configurations;
- `hub`: files fetched from the model hub, and the prompt embedding's cache;
- `memory`: what a patch batch needs in memory, checked before a run.

The pipeline class loads on first use (`patchvsr.PatchVSRPipeline`), so importing
`patchvsr.pipeline.hub` does not import diffusers.
"""
