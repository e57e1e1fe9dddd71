"""`python -m edgefleet.bench.evolve [OPTIONS]` = `edgefleet bench evolve [OPTIONS]`."""

import sys

from edgefleet.bench.cli import app

app(args=["evolve", *sys.argv[1:]], prog_name="edgefleet bench")
