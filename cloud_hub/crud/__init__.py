"""Keyword-only data access functions; each runs inside the caller's session/transaction."""
