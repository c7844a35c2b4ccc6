#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it (.ci/run calls this). On a fresh Debian machine it
# installs what it needs (scripts/setup-system.sh), starts the embedded Slurm, runs the static
# checks (ruff, mypy, tsc --strict), then pytest's unit, integration and e2e tiers as the
# unprivileged user `dcvtest`, so jobs run as on a real cluster and file modes mean something.
#
#   sudo scripts/test.sh [PYTEST ARGS...]      e.g. sudo scripts/test.sh tests/unit -x
#
# Screenshots and logs a person should look at land in test-artifacts/.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [[ $EUID -ne 0 ]]; then
    exec sudo --preserve-env=CI,DCV_WIDGET_VENV "$0" "$@"
fi
export DCV_WIDGET_VENV=${DCV_WIDGET_VENV:-/opt/dcv-widget/venv}
VENV=$DCV_WIDGET_VENV
TEST_USER=dcvtest
STUDENTS=(dcvstudent1 dcvstudent2)
# A Slurm operator (AdminLevel=Operator): sees and ends every user's jobs (the class overview).
OPERATOR=dcvoperator

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "set-up"
"$ROOT/scripts/setup-system.sh" "$TEST_USER"
# The class overview's tests need desktops of other users: students, whose jobs the test user
# (an instructor, coordinator of their class account class101 but of nothing else) sees but may
# end only when charged to class101, and an operator who may end any. Created before Slurm
# starts: `start` gives every local user an association (docs/development.md, "Test set-up").
for user in "${STUDENTS[@]}" "$OPERATOR"; do
    id "$user" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$user"
done
"$ROOT/scripts/local-slurm.sh" start
# The lifecycle tests stop and restart slurmctld (an unreachable scheduler) as the test user,
# through the copy of local-slurm.sh that `start` installed. The class overview's tests submit
# and cancel the students' jobs as them (and end them as the operator), and the isolation tests
# (docs/security.md) act as a student attacking another user's desktop on the shared node: the
# test user may run anything as a student or the operator (users without any unix privilege),
# never as root.
sudoers=$(mktemp)
cat >"$sudoers" <<SUDOERS
$TEST_USER ALL=(root) NOPASSWD: /usr/local/sbin/dcv-widget-local-slurm
$TEST_USER ALL=($(IFS=,; echo "${STUDENTS[*]},$OPERATOR")) NOPASSWD: ALL
SUDOERS
visudo -cqf "$sudoers"
install -m 0440 -o root -g root "$sudoers" /etc/sudoers.d/dcv-widget-tests
rm -f "$sudoers"

step "static checks: ruff, mypy, tsc --strict"
cd "$ROOT"
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .
"$VENV/bin/mypy"
(cd js && npx --no-install tsc --noEmit -p .)

step "pytest as $TEST_USER"
work=$(mktemp -d /tmp/dcv-widget-tests.XXXXXX)
# The tests run from a copy the test user owns; they import dcv_widget as installed in $VENV.
if git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1; then
    git -C "$ROOT" ls-files --cached --others --exclude-standard -z | tar -C "$ROOT" --ignore-failed-read --null -cf - -T - 2>/dev/null | tar -C "$work" -xf -
else
    tar -C "$ROOT" --exclude=.git --exclude=node_modules --exclude=.venv -cf - . | tar -C "$work" -xf -
fi
chown -R "$TEST_USER" "$work"
home=$(getent passwd "$TEST_USER" | cut -d: -f6)
set +e
(cd "$work" && runuser -u "$TEST_USER" -- env -i \
    HOME="$home" USER="$TEST_USER" LOGNAME="$TEST_USER" LANG=C.UTF-8 \
    PATH="$VENV/bin:/usr/local/bin:/usr/bin:/bin" CI="${CI:-}" \
    DCV_WIDGET_ARTIFACTS="$work/test-artifacts" \
    "$VENV/bin/pytest" -p no:cacheprovider -ra --durations=25 "$@")
rc=$?
set -e
rm -rf "$ROOT/test-artifacts" && cp -r "$work/test-artifacts" "$ROOT/test-artifacts" 2>/dev/null || true
rm -rf "$work"
exit $rc
