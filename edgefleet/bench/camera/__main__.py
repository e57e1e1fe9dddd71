"""`python -m edgefleet.bench.camera [OPTIONS]` = `edgefleet bench camera [OPTIONS]`."""

import sys

from edgefleet.bench.cli import app

app(args=["camera", *sys.argv[1:]], prog_name="edgefleet bench")
