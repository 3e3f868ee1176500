"""The web demo's backend: its settings (`config`), its upscaling jobs (`jobs`, run in the
background by `background`) and what the Explore tab shows (`explore`). `demo/` lays these out
in a Gradio page; nothing here imports Gradio or the command line."""
