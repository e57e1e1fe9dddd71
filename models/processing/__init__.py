"""Pre- and post-processing as pure numpy/OpenCV functions, shared by edge agent and hub."""
