"""Hugging Face Spaces entry point, and the same on a laptop: ``python app.py`` -> http://127.0.0.1:7860.

Set GRADIO_SERVER_NAME=0.0.0.0 to serve on the network and GRADIO_SERVER_PORT to change the
port; the demo's own limits (RECNET_MAX_PIXELS, RECNET_CONCURRENCY...) are in demo/settings.py.
"""

import os

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before gradio is imported: no telemetry, no version check

from demo.serving import create_app, launch  # noqa: E402

app = create_app()  # loads the model once, for every request
demo = app.blocks  # the name Gradio's reload mode and Spaces tooling look for

if __name__ == "__main__":
    launch(app)
