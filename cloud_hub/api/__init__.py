"""HTTP API: dependencies, routes, middleware and error handlers."""
