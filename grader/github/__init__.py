"""The GitHub integration: the one adapter that talks to GitHub (client.py, with its settings
and retry policy), what it publishes on a PR (the sticky comment, the check run, the labels),
reading a PR's files as data, regrade permissions, finding a merged PR's grade, and the commands
the workflows run (command.py).

Heavy imports (PyGithub) stay inside the modules that need them; importing this package is cheap.
"""
