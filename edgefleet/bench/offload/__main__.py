"""`python -m edgefleet.bench.offload [OPTIONS]` = `edgefleet bench offload [OPTIONS]`."""

import sys

from edgefleet.bench.cli import app

app(args=["offload", *sys.argv[1:]], prog_name="edgefleet bench")
