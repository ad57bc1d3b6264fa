"""Layerlab's Streamlit face: small UI helpers for the pages in ``app_pages/``.

Pure helpers (``advice``, ``layers``, ``journey``, ``progress``, ``tables``,
``figures``, ``teaching``) take and return plain values and never import
Streamlit; ``state``, ``samples``, ``sidebar``, ``layer_editor``, ``live`` and
``ui`` do. Nothing here imports TensorFlow: pages that need it import the core
lazily.
"""
