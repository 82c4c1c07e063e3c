"""Fetch stage: a validated entry's artifact → local files, checked and digested.

`fetch_artifact` and `FetchedArtifact` live in grader.fetch.artifact; this package stays light
to import (the harness backends import grader.fetch.safety)."""
