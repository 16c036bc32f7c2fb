"""FlagEval leaderboard service: Leaderboard submissions and boards per domain."""
