"""biodiv-obs web layer: a FastAPI service over the detections database and the model bundles.

Build the application with :func:`serve.app.create_app`; importing this package creates nothing.
"""
