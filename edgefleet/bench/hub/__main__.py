"""`python -m edgefleet.bench.hub [OPTIONS]` = `edgefleet bench hub [OPTIONS]`."""

import sys

from edgefleet.bench.cli import app

app(args=["hub", *sys.argv[1:]], prog_name="edgefleet bench")
