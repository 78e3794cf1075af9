"""The terminal app: one screen per phase, all changes through the service, store calls in
worker threads."""
