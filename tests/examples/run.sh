#!/usr/bin/env bash
# Runs the expected-verdict checks of the examples against `npbpf explain`.
#
#   run.sh NPBPF_BINARY EXAMPLES_DIR CHECKS_DIR [NAME...]
#
# For every CHECKS_DIR/<name>.checks (or only the NAMEs given), each check
# line
#
#   FROM TO PORT/PROTO VERDICT [OPTION...]    # optional comment
#
# runs
#
#   NPBPF_BINARY explain -f EXAMPLES_DIR/<name> --from FROM --to TO --port PORT/PROTO [OPTION...]
#
# (OPTIONs are more explain options, e.g. --enforce-host or
# --node-ip NODE=ADDR: one word each, so --node-ip=NODE=ADDR.)
#
# and compares its exit status (0 = allow, 1 = deny, anything else = error)
# with VERDICT (allow or deny). Blank lines and lines starting with # are
# skipped. One line is printed per failing or erroring check, then a last line
# "N passed, N failed" (errors count as failed). Exit status: 0 when every
# check passed, 1 when any failed or errored, 2 on a usage error.
#
# NPBPF_CHECK_TIMEOUT (seconds, default 10) bounds each explain run when
# timeout(1) is available.

set -u

usage() {
	echo "usage: $0 NPBPF_BINARY EXAMPLES_DIR CHECKS_DIR [NAME...]" >&2
	exit 2
}

[ "$#" -ge 3 ] || usage
bin=$1
examples=$2
checks=$3
shift 3

if ! command -v -- "$bin" >/dev/null 2>&1; then
	echo "run.sh: $bin: not an executable" >&2
	exit 2
fi
if [ ! -d "$examples" ]; then
	echo "run.sh: $examples: not a directory" >&2
	exit 2
fi
if [ ! -d "$checks" ]; then
	echo "run.sh: $checks: not a directory" >&2
	exit 2
fi

timeout_s=${NPBPF_CHECK_TIMEOUT:-10}
runner=()
if command -v timeout >/dev/null 2>&1; then
	runner=(timeout -k 2 "$timeout_s")
fi

files=()
if [ "$#" -gt 0 ]; then
	for name in "$@"; do
		files+=("$checks/$name.checks")
	done
else
	shopt -s nullglob
	files=("$checks"/*.checks)
	shopt -u nullglob
fi
if [ "${#files[@]}" -eq 0 ]; then
	echo "run.sh: no .checks files in $checks" >&2
	exit 2
fi

passed=0
failed=0

# fail LOCATION MESSAGE [OUTPUT]: reports one failed check; OUTPUT (what
# explain printed) is shown indented, at most a few lines of it.
fail() {
	failed=$((failed + 1))
	printf '%s: %s\n' "$1" "$2"
	if [ -n "${3-}" ]; then
		printf '%s\n' "$3" | head -n 8 | sed 's/^/    | /'
	fi
}

for file in "${files[@]}"; do
	name=$(basename "$file" .checks)
	dir=$examples/$name
	if [ ! -r "$file" ]; then
		fail "$file" "error: cannot read checks file"
		continue
	fi
	if [ ! -d "$dir" ]; then
		fail "$file" "error: no example directory $dir"
		continue
	fi

	lineno=0
	while IFS= read -r line || [ -n "$line" ]; do
		lineno=$((lineno + 1))
		loc=$file:$lineno
		line=${line%%#*}
		read -r -a fields <<<"$line"
		[ "${#fields[@]}" -eq 0 ] && continue
		if [ "${#fields[@]}" -lt 4 ]; then
			fail "$loc" "error: malformed check (want FROM TO PORT/PROTO VERDICT [OPTION...]): ${fields[*]}"
			continue
		fi
		from=${fields[0]}
		to=${fields[1]}
		port=${fields[2]}
		want=${fields[3]}
		opts=("${fields[@]:4}")
		bad_opt=
		for o in ${opts[@]+"${opts[@]}"}; do
			case $o in
			--*) ;;
			*) bad_opt=$o ;;
			esac
		done
		if [ -n "$bad_opt" ]; then
			fail "$loc" "error: options after the verdict must look like --name[=value], not '$bad_opt'"
			continue
		fi
		case $want in
		allow | deny) ;;
		*)
			fail "$loc" "error: verdict must be allow or deny, not '$want'"
			continue
			;;
		esac
		case $port in
		[0-9]*/TCP | [0-9]*/UDP | [0-9]*/SCTP) ;;
		*)
			fail "$loc" "error: port must look like 443/TCP, not '$port'"
			continue
			;;
		esac

		out=$(${runner[@]+"${runner[@]}"} "$bin" explain -f "$dir" --from "$from" --to "$to" --port "$port" \
			${opts[@]+"${opts[@]}"} 2>&1 </dev/null)
		rc=$?
		case $rc in
		0) got=allow ;;
		1) got=deny ;;
		124 | 137)
			if [ "${#runner[@]}" -gt 0 ]; then
				fail "$loc" "error: $from -> $to $port: explain timed out after ${timeout_s}s" "$out"
			else
				fail "$loc" "error: $from -> $to $port: explain exited with status $rc" "$out"
			fi
			continue
			;;
		*)
			fail "$loc" "error: $from -> $to $port: explain exited with status $rc" "$out"
			continue
			;;
		esac
		if [ "$got" = "$want" ]; then
			passed=$((passed + 1))
		else
			fail "$loc" "$from -> $to $port${opts[*]:+ ${opts[*]}}: expected $want, got $got" "$out"
		fi
	done <"$file"
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
