"""The command line (``python -m layerlab``)."""
