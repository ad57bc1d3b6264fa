"""Plain Python every other layer shares: the domain's words (vocabulary), errors, limits,
numbers, the layer kinds and the model spec. No pandas, no Keras."""
