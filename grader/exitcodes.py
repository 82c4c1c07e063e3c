"""Process exit codes shared by every command (documented in README)."""

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0  # everything checked out
    CHECKS_FAILED = 1  # the input was understood, and some check or claim failed
    BAD_INPUT = 2  # the input could not be understood (invalid YAML, schema, file missing)
    SKIPPED = 3  # nothing to check on this machine (`grader selftest --device cuda` without a GPU)
    # A bug of ours (or the machine ran out of memory or stack): never "nothing to check", so a
    # workflow step that tolerates 3 still fails on it.
    INTERNAL_ERROR = 4
