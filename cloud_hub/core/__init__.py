"""Settings, database engine, security helpers and logging shared by the hub."""
