"""Tables with pandas and numpy: reading (shipped in every bundle), columns, leaks, splits, evaluation records. No Keras."""
