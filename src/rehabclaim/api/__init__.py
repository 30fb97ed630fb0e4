"""The REST API (FastAPI): ``rehabclaim.api.app.create_app(ServerSettings(...))``; ``rehabclaim serve`` runs it."""
