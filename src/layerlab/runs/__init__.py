"""The server side: workspaces on disk, the worker pool and its fair queue, background runs and searches. Never imports Keras."""
