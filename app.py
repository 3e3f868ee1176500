"""`python app.py`: the PatchVSR demo in the browser (also the Hugging Face Spaces entry point).

Host and port follow Gradio's own environment variables, GRADIO_SERVER_NAME and
GRADIO_SERVER_PORT (default 127.0.0.1:7860).
"""

from demo.explore import EXAMPLES_DIR, build

demo = build()

if __name__ == "__main__":
    demo.launch(allowed_paths=[str(EXAMPLES_DIR)])
