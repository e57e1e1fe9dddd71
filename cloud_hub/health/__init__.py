"""Device presence and health: the state machine (pure) and its inputs."""
