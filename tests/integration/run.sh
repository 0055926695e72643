#!/bin/bash
# Runs every test_* function of tests/integration/t_*.sh, each in its own
# subshell with a fresh throwaway root. Usage: run.sh [FILE-or-FUNCTION-PATTERN]
set -u
cd "$(dirname "$0")/../.."
export LIFEBOAT=${LIFEBOAT:-$PWD/build/lifeboat}
[ -x "$LIFEBOAT" ] || { echo "run.sh: $LIFEBOAT not built" >&2; exit 1; }
pattern=${1:-}
pass=0 failn=0 failed=""
for file in tests/integration/t_*.sh; do
	for fn in $(bash -c "source tests/integration/testlib.sh; source $file; declare -F" |
	            awk '$3 ~ /^test_/ {print $3}'); do
		case "$file $fn" in *"$pattern"*) ;; *) continue ;; esac
		log=$(mktemp)
		(
			set -eu
			source tests/integration/testlib.sh
			source "$file"
			setup
			trap teardown EXIT
			"$fn"
		) >"$log" 2>&1
		rc=$?
		if [ $rc = 0 ]; then
			pass=$((pass + 1))
			echo "ok - $(basename "$file" .sh) $fn"
		else
			failn=$((failn + 1))
			failed="$failed $fn"
			echo "not ok - $(basename "$file" .sh) $fn (exit $rc)"
			sed 's/^/#   /' "$log" | tail -n 25
		fi
		rm -f "$log"
	done
done
[ -z "$failed" ] || echo "# failed:$failed"
echo "integration: $pass passed, $failn failed"
[ $failn = 0 ]
