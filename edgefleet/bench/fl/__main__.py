"""`python -m edgefleet.bench.fl [OPTIONS]` = `edgefleet bench fl [OPTIONS]`."""

import sys

from edgefleet.bench.cli import app

app(args=["fl", *sys.argv[1:]], prog_name="edgefleet bench")
