"""`python app.py`: the PatchVSR demo in the browser (also the Hugging Face Spaces entry point).

Host and port follow Gradio's own environment variables, GRADIO_SERVER_NAME and
GRADIO_SERVER_PORT (default 127.0.0.1:7860). The models offered, the limits and the output
folder come from PATCHVSR_* variables: see `patchvsr/serve/config.py` and the README.
"""

import os

from patchvsr.devices import enable_mps_fallback

enable_mps_fallback()  # on a Mac, before torch loads: operations MPS lacks run on the CPU

from demo.page import build, cache_example_in_background, launch_options  # noqa: E402
from patchvsr.serve.config import DemoSettings  # noqa: E402

settings = DemoSettings.from_env()
# The upscaling example is computed once and kept, per default model, beside the job folders
# (not in the working tree): in the background as the server starts, so the first visitor
# finds it done.
os.environ.setdefault(
    "GRADIO_EXAMPLES_CACHE", str(settings.output_dir / "cached-examples" / settings.default_model)
)
demo = build(settings)

if __name__ == "__main__":
    demo.launch(prevent_thread_lock=True, **launch_options(settings))
    cache_example_in_background(demo)
    demo.block_thread()
