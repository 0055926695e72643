#!/bin/sh
# clang-format (the tree's .clang-format) and cppcheck over all C sources.
# Exit 0 when both are clean.
set -u
cd "$(dirname "$0")/.."
rc=0
files=$(ls lib/*.[ch] rescue-agent/*.[ch] master/*.[ch] tests/unit/*.c tests/fuzz/*.c 2>/dev/null)
# shellcheck disable=SC2086
if ! clang-format --dry-run -Werror $files 2>/tmp/lifeboat-lint.$$; then
	head -20 /tmp/lifeboat-lint.$$
	echo "lint: clang-format: files need formatting (clang-format -i FILE)"
	rc=1
fi
rm -f /tmp/lifeboat-lint.$$
if ! cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability --inline-suppr \
	-D_GNU_SOURCE -Ilib -Irescue-agent --suppress=missingIncludeSystem lib rescue-agent master; then
	echo "lint: cppcheck found problems"
	rc=1
fi
[ $rc = 0 ] && echo "lint: clang-format and cppcheck clean"
exit $rc
