#!/bin/sh
# `make fuzz`: build every libFuzzer harness with clang (ASan+UBSan) and run each
# for FUZZ_SECONDS (default 60) on a copy of its corpus; new inputs that raise
# coverage are left in build/fuzz/corpus/NAME (copy the good ones into
# tests/fuzz/corpus/NAME to keep them). Prints executions per harness.
set -eu
cd "$(dirname "$0")/../.."
SECS=${FUZZ_SECONDS:-60}
OUT=build/fuzz
mkdir -p "$OUT"
# libdivsufsort: lib/bdiff.c (the delta encoder) is among lib/*.c; first, before the
# static libzstd.a and its own divsufsort() (dictBuilder, another signature)
LIBS="-ldivsufsort -Wl,-Bstatic -larchive -lz -llzma -lzstd -lbz2 -llz4 -lsodium -Wl,-Bdynamic -lpthread"
status=0
for src in tests/fuzz/fuzz_*.c; do
	name=$(basename "$src" .c)
	short=${name#fuzz_}
	# shellcheck disable=SC2086
	clang -g -O1 -std=gnu11 -D_GNU_SOURCE -Ilib -Irescue-agent \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-o "$OUT/$name" "$src" lib/*.c $(ls rescue-agent/*.c | grep -v main.c) $LIBS
	mkdir -p "$OUT/corpus/$short"
	cp -n tests/fuzz/corpus/"$short"/* "$OUT/corpus/$short/" 2>/dev/null || true
	if "$OUT/$name" -max_total_time="$SECS" -print_final_stats=1 "$OUT/corpus/$short" \
		>"$OUT/$name.log" 2>&1; then
		echo "$name: $(grep -m1 'stat::number_of_executed_units' "$OUT/$name.log" | awk '{print $2}') executions in ${SECS}s, no crash"
	else
		echo "$name: FAILED, see $OUT/$name.log"
		status=1
	fi
done
exit $status
