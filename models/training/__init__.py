"""Training here, in numpy: the engine-fault MLP, its ONNX export and federated update maths."""
