"""`edgefleet bundle`: an offline-installable agent bundle for one CPU architecture."""
