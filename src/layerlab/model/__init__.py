"""Keras and TensorFlow: build, train, evaluate, explain and export a network. Runs only in workers and the CLI, never in the Streamlit server."""
