"""ORM tables of the hub (kept apart from the API schemas)."""
