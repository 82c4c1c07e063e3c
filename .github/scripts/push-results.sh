#!/usr/bin/env bash
# Apply a change to the leaderboard, commit it, and push it to BRANCH; when someone else pushed
# first, fetch, replay the change on the new tip, and try again.
#
#   push-results.sh BRANCH MESSAGE -- APPLY-COMMAND...
#
# APPLY-COMMAND (e.g. `grader collect grade.json && grader leaderboard`) is run in the checkout;
# it writes the result record and regenerates the tables, plots and README section. The retry
# replays the operation rather than the diff: a textual rebase of generated tables could splice
# two versions together, and a record restored as a file could overwrite a newer one, while
# `grader collect` on the new tip keeps whichever record is newer. Its inputs must live outside
# the checkout (the checkout is reset to the remote's tip between attempts).
#
# Authentication: with GITHUB_TOKEN set, git receives it through its environment, for this
# script's commands only; nothing is written to .git/config.
set -euo pipefail

usage="usage: push-results.sh BRANCH MESSAGE -- APPLY-COMMAND..."
branch=${1:?$usage}
message=${2:?$usage}
shift 2
[ "${1:-}" = "--" ] && shift
[ "$#" -gt 0 ] || { echo "$usage" >&2; exit 2; }
apply=("$@")
attempts=${PUSH_ATTEMPTS:-6}
paths=(leaderboard README.md)

if [ -n "${GITHUB_TOKEN:-}" ]; then
  server=${GITHUB_SERVER_URL:-https://github.com}
  basic=$(printf 'x-access-token:%s' "$GITHUB_TOKEN" | base64 | tr -d '\n')
  export GIT_CONFIG_COUNT=1
  export GIT_CONFIG_KEY_0="http.${server}/.extraheader"
  export GIT_CONFIG_VALUE_0="AUTHORIZATION: basic ${basic}"
fi

# Apply the change and commit it; false when it changes nothing (already on the branch).
apply_and_commit() {
  "${apply[@]}"
  git add -A -- "${paths[@]}"
  if git diff --cached --quiet; then
    return 1
  fi
  git commit -q -m "$message"
}

if ! apply_and_commit; then
  echo "nothing changed; nothing to push"
  exit 0
fi
for attempt in $(seq 1 "$attempts"); do
  if git push -q origin "HEAD:refs/heads/$branch"; then
    echo "pushed to $branch (attempt $attempt)"
    exit 0
  fi
  [ "$attempt" -lt "$attempts" ] || break
  echo "$branch moved; replaying the change on its new tip"
  sleep "$(((attempt + RANDOM % 3) * ${PUSH_BACKOFF_S:-1}))"
  git fetch -q origin "$branch"
  git reset -q --hard "origin/$branch"
  git clean -q -fd -- "${paths[@]}"
  if ! apply_and_commit; then
    echo "$branch already holds this change; nothing to push"
    exit 0
  fi
done
echo "push-results.sh: could not push to $branch after $attempts attempts" >&2
exit 1
