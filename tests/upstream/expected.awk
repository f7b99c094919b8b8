# Rewrites an expected.txt: keeps its comments and directives, and replaces
# every truth table with the one its directives describe. Written for mawk and
# POSIX awk; it knows nothing of npbpf.
#
#   awk -f expected.awk SCENARIO/expected.txt > new && mv new SCENARIO/expected.txt
#
# Directives are comment lines starting with "#> ". A block is one
# "#> table" line followed by "#> allow"/"#> deny" lines; the tables are
# printed right after the block, one per (family, port), family first:
#
#   #> table PORT/PROTO[,PORT/PROTO...] IPv4|IPv6|IPv4,IPv6
#   #> deny FROM TO        # upstream Reachability.ExpectPeer(FROM, TO, false)
#   #> allow FROM TO       # upstream Reachability.ExpectPeer(FROM, TO, true)
#
# Every table starts all allowed, like upstream's NewReachability(pods, true);
# allow/deny lines are applied in order, so a later line wins, as later
# Expect* calls do upstream. FROM and TO are "*" (every pod), "NS/*", "*/POD"
# or "NS/POD". A pod to itself is allowed last, whatever the lines said
# (upstream ignores loopback; npbpf always allows it). So:
#
#   ExpectAllIngress(x/a, false)  ->  #> deny * x/a
#   ExpectAllEgress(x/a, false)   ->  #> deny x/a *
#   Expect(x/b, x/a, true)        ->  #> allow x/b x/a
#   ExpectPeer({y}, {x, a}, true) ->  #> allow y/* x/a
#
# Rows are sources, columns destinations, "." allowed, "X" denied, in the
# tab-separated layout of hand-written matrices, which run.sh and
# `npbpf lab --expect` read (README.md, "Matrix text").
# Errors go to stderr and make the exit status 1.

function fail(msg) {
	printf "%s:%d: %s\n", FILENAME, FNR, msg > "/dev/stderr"
	bad = 1
}

function matches(pat, pod,    p, q) {
	if (pat == "*")
		return 1
	split(pat, p, "/")
	split(pod, q, "/")
	return (p[1] == "*" || p[1] == q[1]) && (p[2] == "*" || p[2] == q[2])
}

function valid_pattern(pat,    p, n, i, ok) {
	if (pat == "*")
		return 1
	n = split(pat, p, "/")
	if (n != 2)
		return 0
	ok = (p[1] == "*")
	for (i = 1; i <= npods; i++)
		if (p[1] == ns[i])
			ok = 1
	if (!ok)
		return 0
	ok = (p[2] == "*")
	for (i = 1; i <= npods; i++)
		if (p[2] == name[i])
			ok = 1
	return ok
}

function start_block(    i, j, f, fl) {
	nports = split($3, ports, ",")
	for (i = 1; i <= nports; i++)
		if (ports[i] !~ /^[1-9][0-9]*\/(TCP|UDP|SCTP)$/)
			fail("bad port '" ports[i] "' (want like 80/TCP)")
	nfams = split($4, fams, ",")
	for (i = 1; i <= nfams; i++)
		if (fams[i] != "IPv4" && fams[i] != "IPv6")
			fail("bad family '" fams[i] "' (want IPv4, IPv6 or IPv4,IPv6)")
	if (NF != 4 || nports == 0 || nfams == 0)
		fail("want: #> table PORT/PROTO[,...] IPv4|IPv6|IPv4,IPv6")
	for (i = 1; i <= npods; i++)
		for (j = 1; j <= npods; j++)
			cell[i, j] = "."
	inblock = 1
}

function apply(mark,    i, j) {
	if (NF != 4) {
		fail("want: #> " $2 " FROM TO")
		return
	}
	if (!valid_pattern($3) || !valid_pattern($4)) {
		fail("bad pattern in '" $0 "' (want *, NS/*, */POD or NS/POD of the base pods)")
		return
	}
	for (i = 1; i <= npods; i++)
		if (matches($3, pods[i]))
			for (j = 1; j <= npods; j++)
				if (matches($4, pods[j]))
					cell[i, j] = mark
}

function emit(    f, p, i, j, line, first) {
	for (i = 1; i <= npods; i++)
		cell[i, i] = "."
	first = 1
	for (f = 1; f <= nfams; f++) {
		for (p = 1; p <= nports; p++) {
			if (!first)
				print ""
			first = 0
			print ports[p] " " fams[f] ":"
			line = "-"
			for (j = 1; j <= npods; j++)
				line = line "\t" pods[j]
			print line
			for (i = 1; i <= npods; i++) {
				line = pods[i]
				for (j = 1; j <= npods; j++)
					line = line "\t" cell[i, j]
				print line
			}
		}
	}
	inblock = 0
	skipping = 1
}

BEGIN {
	npods = split("x/a x/b x/c y/a y/b y/c z/a z/b z/c", pods, " ")
	for (i = 1; i <= npods; i++) {
		split(pods[i], parts, "/")
		ns[i] = parts[1]
		name[i] = parts[2]
	}
}

/^#> / {
	if ($2 == "table") {
		if (inblock)
			emit()
		if (skipping)
			print ""
		skipping = 0
		start_block()
	} else if ($2 == "allow" || $2 == "deny") {
		if (!inblock)
			fail("'" $2 "' outside a '#> table' block")
		else
			apply($2 == "allow" ? "." : "X")
	} else {
		fail("unknown directive '" $2 "'")
	}
	print
	next
}

{
	if (inblock)
		emit()
}

/^#/ {
	if (skipping)
		print ""
	skipping = 0
	print
	next
}

# An old table (or the blank lines around it): dropped, the new one is out.
skipping {
	next
}

/^[ \t]*$/ {
	print
	next
}

{
	fail("text outside a table or comment: '" $0 "'")
	print
}

END {
	if (inblock)
		emit()
	exit bad
}
