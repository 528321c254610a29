"""Documents and names shared with the outside world: dataset_metadata.json, retrain_result.json, the
environment variables, what a launched job is told and found again by, and the Hub webhook payload."""
