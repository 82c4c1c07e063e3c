"""leaderboard stage."""
