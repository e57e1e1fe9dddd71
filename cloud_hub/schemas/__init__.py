"""API schemas, one module per resource: XCreate / XUpdate / XPublic."""
