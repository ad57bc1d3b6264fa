"""Layerlab: build, train and export Keras networks on tabular data."""
