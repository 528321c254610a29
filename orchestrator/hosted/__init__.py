"""Running the orchestrator on the Hub itself, with no GitHub and no server: a scheduled HF Job
(:mod:`.schedule`) and a Hub webhook that starts an HF Job (:mod:`.hooks`), both built from the project's
settings (:mod:`.spec`)."""
