"""The orchestrator's own state: records without SQL, and the store with its tables and migrations."""
