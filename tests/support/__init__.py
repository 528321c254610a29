"""Test helpers shared by the tests and the benchmarks (``support.hubstub``: the Hub stand-in)."""
