"""Telling people: log lines, annotations, summaries, tables, the status views and notifications."""
