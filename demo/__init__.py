"""The Gradio demo: the page, its HTTP API (``/enhance``) and the serving settings.

``demo.serving.create_app`` loads the model and builds the page; ``demo.serving.launch``
serves it. UI helpers only: the correction itself is ``recnet.inference.pipeline.enhance_photo``.
"""
