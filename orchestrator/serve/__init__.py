"""orchestrator serve: Hub webhooks, threshold checks and a status page."""
