"""orchestrator: continuous-learning CI/CD for text classifiers reviewed by people."""

__version__ = "0.1.0"
