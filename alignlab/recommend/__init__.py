"""The recommendation: facts about the user's situation, a table of rules with sources, ranking, search spaces, sweep drafts, and memory/time estimates. Pure Python: imports no torch."""
