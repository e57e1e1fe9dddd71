from edgefleet.bench.cli import app

app(["intent"])
