"""Training the claim classifier: the labelled corpus, `pinocchio train` (with the ONNX export) and
the evaluation measures. May import `listen` (to judge with the real detector), `store` and `core`."""
