"""The paper's method, one idea per file, in plain data and small tensor functions:

- `grid`: the patch grids (base and auxiliary patches, the shifted grid of each step);
- `weights`: the weight maps that fuse a plan's patches;
- `fusion`: one denoising step's predictions fused on one canvas;
- `location`: where a patch lies in the frame, as the adapter sees it;
- `context`: the global view each patch is conditioned on;
- `colorfix`: the output's colours held to the input's;
- `temporal`, `temporal_detail`: a clip cut into temporal windows, and its one noise field;
- `step_layout`: which plan each denoising step runs;
- `training_free`: the noise level a base without adapter weights starts from.

Nothing here imports the pipeline, the job runner or a front end.
"""
