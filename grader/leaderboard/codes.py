"""Finding codes of the leaderboard: L."""

from __future__ import annotations

from grader.codes import CodeDoc

CODES: list[CodeDoc] = [
    CodeDoc(
        "L001",
        "The README's leaderboard or gradebook markers are broken",
        "<!-- leaderboard:start -->\n... (no `<!-- leaderboard:end -->` line)",
        "Keep exactly one `<!-- leaderboard:start -->` line followed later by one "
        "`<!-- leaderboard:end -->` line (and the same for `<!-- gradebook:start -->` / "
        "`<!-- gradebook:end -->`), or delete both: `grader leaderboard` then appends the "
        "leaderboard at the end and the gradebook right after it. Text outside the markers is "
        "never touched.",
    ),
    CodeDoc(
        "L002",
        "A leaderboard record is filed under the wrong homework or team",
        "leaderboard/results/hw-2/alpha.json   # holds the record of team beta",
        "Records are written by `grader collect` as leaderboard/results/hw-<n>/<team>.json; move the "
        "file back, or delete it and collect the grade again.",
    ),
    CodeDoc(
        "L003",
        "The README is empty",
        "README.md: 0 bytes   # emptied by a killed job or a bad merge",
        "Restore the README from git (`git checkout HEAD -- README.md`), then run `grader leaderboard` "
        "again: the leaderboard never writes itself into an empty README, which would drop the "
        "course's text.",
    ),
    CodeDoc(
        "L004",
        "The grade does not belong to the merged PR",
        "grade.json: pull_request.number 12, team beta   # the API says PR #7 of team alpha",
        "Nothing is collected. Grade the merged commit again (`/regrade`, or run the leaderboard "
        "workflow by hand): its grade then carries the PR, commit, team and homework the API reports.",
    ),
]
