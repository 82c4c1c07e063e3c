"""`python -m grader`: the `grader` command, for a checkout that is not pip-installed (the GPU check)."""

from grader.cli import main

if __name__ == "__main__":
    main()
