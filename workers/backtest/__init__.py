"""`dealstream rules backtest`: replay history through two rule sets and compare what they do."""
