"""Where data leaves: reports computed in SQL from the tables the sync writes.

Reports read the store only; they never import providers.
"""
