"""One client per outside system (database and feedback SQL, the Hub, HF Jobs, GitHub), over one shared
retry-and-translate shell."""
