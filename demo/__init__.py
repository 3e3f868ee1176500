"""The Gradio front end: layout and callbacks only; everything it shows comes from `patchvsr`."""
