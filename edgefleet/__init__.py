"""edgefleet: the console script, the demo and the benchmarks that tie the packages together."""

__version__ = "0.1.0"
