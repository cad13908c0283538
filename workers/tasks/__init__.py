"""Thin tasks: load by id, call one service function, commit, then enqueue follow-ups."""
