"""One cycle's side effects, in order: lease, journal, reconcile, execute, wait, follow."""
