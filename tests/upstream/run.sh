#!/usr/bin/env bash
# Runs the upstream NetworkPolicy e2e scenarios against `npbpf explain --matrix`.
#
#   run.sh NPBPF_BINARY DIR [SCENARIO...]
#
# DIR holds base/ (the namespaces and pods every scenario shares) and one
# directory per scenario with its manifests and an expected.txt (format:
# README.md and expected.awk). For each scenario (all of them, or only the
# SCENARIOs named) the runner
#
#   1. checks that expected.txt's tables are exactly what its "#>" directives
#      describe (awk -f DIR/expected.awk), so a hand edit cannot drift;
#   2. takes the ports and families from the table headers and runs
#        NPBPF_BINARY explain -f DIR/base -f DIR/SCENARIO --matrix \
#            --ports P1,P2,... --family 4|6|both
#   3. compares every cell (npbpf prints numbered rows and columns, the
#      file names them: both are read), and prints one line per cell that
#      differs:
#        SCENARIO: 80/TCP IPv4 x/b -> x/a: expected allow, got deny
#
# Scenarios listed in DIR/KNOWN_DISAGREEMENTS (one name per line, '#'
# comments) are skipped with a SKIP line when no SCENARIO is named; naming
# one runs it. The last line is "N passed, N failed" (a scenario passes when
# every cell matches; errors count as failed). Exit status: 0 when none
# failed, 1 otherwise, 2 on a usage error.
#
# NPBPF_CHECK_TIMEOUT (seconds, default 20) bounds each explain run when
# timeout(1) is available.

set -u

usage() {
	echo "usage: $0 NPBPF_BINARY DIR [SCENARIO...]" >&2
	exit 2
}

[ "$#" -ge 2 ] || usage
bin=$1
dir=${2%/}
shift 2

if ! command -v -- "$bin" >/dev/null 2>&1; then
	echo "run.sh: $bin: not an executable" >&2
	exit 2
fi
if [ ! -d "$dir/base" ] || [ ! -r "$dir/expected.awk" ]; then
	echo "run.sh: $dir: no base/ or expected.awk" >&2
	exit 2
fi

timeout_s=${NPBPF_CHECK_TIMEOUT:-20}
runner=()
if command -v timeout >/dev/null 2>&1; then
	runner=(timeout -k 2 "$timeout_s")
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/npbpf-upstream.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT

# known NAME: prints the reason NAME is a known disagreement, fails if not.
known() {
	[ -r "$dir/KNOWN_DISAGREEMENTS" ] || return 1
	awk -v n="$1" '
		{ line = $0; sub(/^[ \t]+/, "", line) }
		line ~ /^#/ || line == "" { next }
		{ split(line, f, /[ \t]+/) }
		f[1] == n {
			reason = line
			sub(/^[^ \t]+[ \t]*/, "", reason)
			sub(/^#[ \t]*/, "", reason)
			print (reason == "" ? "no reason given" : reason)
			found = 1
			exit
		}
		END { exit !found }
	' "$dir/KNOWN_DISAGREEMENTS"
}

names=()
explicit=0
if [ "$#" -gt 0 ]; then
	names=("$@")
	explicit=1
else
	for d in "$dir"/*/; do
		d=${d%/}
		[ -f "$d/expected.txt" ] && names+=("${d##*/}")
	done
fi
if [ "${#names[@]}" -eq 0 ]; then
	echo "run.sh: no scenarios (directories with expected.txt) in $dir" >&2
	exit 2
fi

passed=0
failed=0
skipped=0

# fail NAME MESSAGE [OUTPUT]: one failed scenario; OUTPUT is shown indented.
fail() {
	failed=$((failed + 1))
	printf '%s: %s\n' "$1" "$2"
	if [ -n "${3-}" ]; then
		printf '%s\n' "$3" | head -n 12 | sed 's/^/    | /'
	fi
}

for name in "${names[@]}"; do
	scen=$dir/$name
	expected=$scen/expected.txt

	if [ "$explicit" -eq 0 ] && reason=$(known "$name"); then
		skipped=$((skipped + 1))
		echo "SKIP $name: known disagreement: $reason"
		continue
	fi
	if [ ! -r "$expected" ]; then
		fail "$name" "error: no $expected"
		continue
	fi

	# 1. The tables must be what the directives say.
	if ! awk -f "$dir/expected.awk" "$expected" >"$tmp/canonical" 2>"$tmp/err"; then
		fail "$name" "error: bad expected.txt" "$(cat "$tmp/err")"
		continue
	fi
	if ! cmp -s "$tmp/canonical" "$expected"; then
		fail "$name" "error: expected.txt tables differ from its #> directives; regenerate with: awk -f $dir/expected.awk $expected" \
			"$(diff "$expected" "$tmp/canonical" | head -n 12)"
		continue
	fi

	# 2. Ports (in order of first appearance) and families from the headers.
	ports=$(awk '/^[0-9]+\/[A-Z]+ IPv[46]:$/ { p = $1; if (!(p in seen)) { seen[p] = 1; out = out (out == "" ? "" : ",") p } }
		END { print out }' "$expected")
	fams=$(awk '/^[0-9]+\/[A-Z]+ IPv[46]:$/ { sub(/:$/, "", $2); seen[$2] = 1 }
		END { if (("IPv4" in seen) && ("IPv6" in seen)) print "both"; else if ("IPv6" in seen) print "6"; else if ("IPv4" in seen) print "4" }' "$expected")
	if [ -z "$ports" ] || [ -z "$fams" ]; then
		fail "$name" "error: expected.txt has no tables"
		continue
	fi

	out=$(${runner[@]+"${runner[@]}"} "$bin" explain -f "$dir/base" -f "$scen" --matrix \
		--ports "$ports" --family "$fams" 2>"$tmp/stderr" </dev/null)
	rc=$?
	# Scenarios replace base objects on purpose, which explain warns about:
	# stderr is shown only when explain fails.
	if [ "$rc" -ne 0 ]; then
		out=$(cat "$tmp/stderr")$'\n'$out
		case $rc in
		124 | 137) fail "$name" "error: explain timed out after ${timeout_s}s" "$out" ;;
		*) fail "$name" "error: explain exited with status $rc" "$out" ;;
		esac
		continue
	fi
	printf '%s\n' "$out" >"$tmp/actual"

	# 3. Cell by cell. Every table of the ports x families product must be
	# in both; every row and column of one must be in the other.
	if awk -v name="$name" '
		# Reads both layouts: expected.txt is hand-written (a column line
		# "-" and the names, rows "NAME MARK..."), npbpf prints numbered
		# rows (a column line "from \ to" and numbers, rows "N NAME
		# MARK...", a wide table in blocks after blank lines).
		function load(file, kind,    line, hdr, ncol, col, i, f, k, p, numbered) {
			hdr = ""
			while ((getline line < file) > 0) {
				if (line ~ /^#/ || line ~ /^[ \t]*$/)
					continue
				if (line ~ /^[0-9]+\/[A-Z]+ IPv[46]:$/) {
					hdr = substr(line, 1, length(line) - 1)
					tables[hdr] = 1
					has[kind, hdr] = 1
					continue
				}
				ncol = split(line, f)
				if (hdr == "") {
					printf "%s: %s: unexpected line: %s\n", name, kind, line
					bad = 1
					continue
				}
				if (f[1] == "-") {
					numbered = 0
					for (i = 2; i <= ncol; i++) {
						col[i] = f[i]
						pods[f[i]] = 1
					}
					continue
				}
				if (f[1] == "from" && f[2] == "\\" && f[3] == "to") {
					numbered = 1
					for (i = 4; i <= ncol; i++)
						col[i - 1] = f[i]
					continue
				}
				if (numbered) {
					rowname[kind, hdr, f[1]] = f[2]
					pods[f[2]] = 1
					for (i = 3; i <= ncol; i++)
						cell[kind, hdr, f[1], col[i]] = f[i]
					continue
				}
				pods[f[1]] = 1
				for (i = 2; i <= ncol; i++)
					val[kind, hdr, f[1], col[i]] = f[i]
			}
			close(file)
			# Numbered cells by name, now that every row is known.
			for (k in cell) {
				split(k, p, SUBSEP)
				if (p[1] != kind)
					continue
				if (!((kind, p[2], p[4]) in rowname)) {
					printf "%s: %s: %s: column %s has no row\n", name, kind, p[2], p[4]
					bad = 1
					continue
				}
				val[kind, p[2], rowname[kind, p[2], p[3]], rowname[kind, p[2], p[4]]] = cell[k]
			}
		}
		function word(m) {
			return m == "." ? "allow" : m == "X" ? "deny" : m == "-" ? "not probed" : m == "" ? "missing" : "\"" m "\""
		}
		BEGIN {
			load(ARGV[1], "expected")
			load(ARGV[2], "actual")
			for (h in tables) {
				if (!has["expected", h] || !has["actual", h]) {
					printf "%s: %s: table only in %s\n", name, h, has["expected", h] ? "expected.txt" : "npbpf output"
					bad = 1
					continue
				}
				for (a in pods)
					for (b in pods) {
						e = val["expected", h, a, b]
						g = val["actual", h, a, b]
						if (e != g) {
							printf "%s: %s %s -> %s: expected %s, got %s\n", name, h, a, b, word(e), word(g)
							bad = 1
						}
					}
			}
			exit bad
		}
	' "$expected" "$tmp/actual" >"$tmp/diffs"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		sort "$tmp/diffs"
	fi
done

[ "$skipped" -gt 0 ] && echo "$skipped skipped (KNOWN_DISAGREEMENTS)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
