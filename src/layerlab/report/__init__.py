"""What a run is, as plain records and sentences: its files, messages, table row, diagnosis and model card. No Keras."""
