"""`python -m edgefleet.bench.edge [OPTIONS]` = `edgefleet bench edge [OPTIONS]`."""

import sys

from edgefleet.bench.cli import app

app(args=["edge", *sys.argv[1:]], prog_name="edgefleet bench")
