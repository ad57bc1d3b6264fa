"""Plain Python every other layer shares: errors, limits, numbers, the model spec and its records. No pandas, no Keras."""
