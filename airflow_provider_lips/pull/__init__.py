"""The pull engine: the window, the queries, what totals vouch for, records read one way."""
