/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Input errors: every one the API server (or kubectl's decoder) would
 * reject, reported once as FILE:LINE:COL: KIND NS/NAME: FIELD: what, with
 * the line and column of the offending node; and hostile or broken input
 * failing fast and cleanly (these also run under ASan/UBSan).
 */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "manifest.h"
#include "yaml_tree.h"

static struct np_cluster c;

static void setup(void)
{
	cluster_init(&c);
}

static void teardown(void)
{
	cluster_free(&c);
}

TestSuite(validate, .init = setup, .fini = teardown);
TestSuite(hostile, .init = setup, .fini = teardown);

/* Runs fn with stderr sent to a temporary file; returns what was written. */
static char *capture(int (*fn)(const void *), const void *arg, int *ret)
{
	FILE *tmp = tmpfile();
	int saved = dup(STDERR_FILENO);
	char *out;
	long len;

	cr_assert_not_null(tmp);
	fflush(stderr);
	dup2(fileno(tmp), STDERR_FILENO);
	*ret = fn(arg);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	len = ftell(tmp);
	out = calloc(1, (size_t)len + 1);
	rewind(tmp);
	cr_assert_eq(fread(out, 1, (size_t)len, tmp), (size_t)len);
	fclose(tmp);
	return out;
}

struct buf_arg {
	const char *text;
	size_t len;
};

static int load_buf(const void *arg)
{
	const struct buf_arg *b = arg;

	return manifest_load_buffer(&c, "t.yaml", b->text, b->len);
}

static char *load_n(const char *text, size_t len, int *ret)
{
	struct buf_arg b = {text, len};

	return capture(load_buf, &b, ret);
}

static size_t count_lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* Loading yaml fails with -EINVAL and logs exactly one error containing
 * want (usually the full "t.yaml:L:C: KIND NS/NAME: FIELD: " prefix). */
static void expect(const char *yaml, const char *want)
{
	int ret;
	char *out = load_n(yaml, strlen(yaml), &ret);

	cr_assert_eq(ret, -EINVAL, "returned %d for:\n%s", ret, yaml);
	cr_assert_not_null(strstr(out, want), "wanted \"%s\" in:\n%s", want, out);
	cr_assert_eq(count_lines(out), 1, "wanted one error, got:\n%s", out);
	cr_assert_not_null(strstr(out, "npbpf: error: t.yaml:"), "%s", out);
	free(out);
}

/* Fails with -EINVAL; returns the log for more checks. */
static char *expect_fail(const char *yaml)
{
	int ret;
	char *out = load_n(yaml, strlen(yaml), &ret);

	cr_assert_eq(ret, -EINVAL, "returned %d for:\n%s", ret, yaml);
	cr_assert_gt(strlen(out), 0);
	return out;
}

#define POD "apiVersion: v1\nkind: Pod\n"
#define NS  "apiVersion: v1\nkind: Namespace\n"
#define NP                                                                                         \
	"apiVersion: networking.k8s.io/v1\n"                                                       \
	"kind: NetworkPolicy\n"                                                                    \
	"metadata: {name: p, namespace: t}\n"                                                      \
	"spec:\n"                                                                                  \
	"  podSelector: {}\n"
/* NP takes lines 1-5; a rule starts on line 6. */
#define IN_PORT(port) NP "  ingress:\n  - ports:\n    - " port "\n"
#define IN_PEER(peer) NP "  ingress:\n  - from:\n    - " peer "\n"

/* ---- metadata ---- */

Test(validate, missing_name)
{
	expect(POD "metadata:\n  namespace: x\n", "t.yaml:4:3: Pod: metadata.name: required");
	expect(POD "spec: {}\n", "t.yaml:1:1: Pod: metadata.name: required");
	expect(NS "metadata: {labels: {a: b}}\n",
	       "t.yaml:3:11: Namespace: metadata.name: required");
}

Test(validate, invalid_names)
{
	expect(NS "metadata: {name: Prod}\n",
	       "t.yaml:3:18: Namespace Prod: metadata.name: invalid name \"Prod\": must be a "
	       "lowercase RFC 1123 label");
	expect(NS "metadata: {name: a.b}\n", "t.yaml:3:18: Namespace a.b: metadata.name: invalid");
	expect(POD "metadata: {name: web_1}\n",
	       "t.yaml:3:18: Pod default/web_1: metadata.name: invalid name \"web_1\": must be a "
	       "lowercase RFC 1123 subdomain");
	expect(POD "metadata: {name: web., namespace: x}\n", "t.yaml:3:18: Pod x/web.: ");
	expect(POD "metadata: {name: \"\"}\n", "metadata.name: invalid name \"\"");
	expect("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
	       "metadata: {name: -p}\nspec: {podSelector: {}}\n",
	       "t.yaml:3:18: NetworkPolicy default/-p: metadata.name: invalid name");
	expect(POD "metadata: {name: web, namespace: my.ns}\n",
	       "t.yaml:3:34: Pod my.ns/web: metadata.namespace: invalid namespace \"my.ns\"");
}

Test(validate, long_names)
{
	char yaml[600];
	char label[70], sub[260];

	memset(label, 'a', 64);
	label[64] = '\0';
	memset(sub, 'a', 254);
	sub[254] = '\0';
	sub[100] = '.';
	snprintf(yaml, sizeof(yaml), NS "metadata: {name: %s}\n", label);
	expect(yaml, "metadata.name: invalid name");
	label[63] = '\0';
	snprintf(yaml, sizeof(yaml), NS "metadata: {name: %s}\n", label);
	cr_assert_eq(manifest_load_buffer(&c, "t.yaml", yaml, strlen(yaml)), 0, "63 is fine");
	snprintf(yaml, sizeof(yaml), POD "metadata: {name: %s}\n", sub);
	expect(yaml, "metadata.name: invalid name");
	sub[253] = '\0';
	snprintf(yaml, sizeof(yaml), POD "metadata: {name: %s}\n", sub);
	cr_assert_eq(manifest_load_buffer(&c, "t.yaml", yaml, strlen(yaml)), 0, "253 is fine");
}

/* ---- labels ---- */

Test(validate, label_keys)
{
	expect(POD "metadata:\n  name: a\n  labels:\n    bad key: x\n",
	       "t.yaml:6:5: Pod default/a: metadata.labels: invalid label key \"bad key\"");
	expect(POD "metadata:\n  name: a\n  labels:\n    Example.com/x: y1\n",
	       "t.yaml:6:5: Pod default/a: metadata.labels: invalid label key \"Example.com/x\": "
	       "the prefix");
	expect(POD "metadata:\n  name: a\n  labels:\n    example.com/: y1\n",
	       "invalid label key \"example.com/\": the name after '/'");
	expect(POD "metadata:\n  name: a\n  labels:\n    /x: y1\n", "invalid label key \"/x\"");
	expect(POD "metadata:\n  name: a\n  labels:\n    a/b/c: y1\n",
	       "invalid label key \"a/b/c\"");
	expect(POD "metadata:\n  name: a\n  labels:\n    -app: y1\n", "invalid label key \"-app\"");
	expect(POD "metadata:\n  name: a\n  labels:\n    "
		   "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa: x\n",
	       "invalid label key");
}

Test(validate, policy_labels_checked_too)
{
	expect("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
	       "metadata: {name: p, namespace: t, labels: {a: -x}}\nspec: {podSelector: {}}\n",
	       "t.yaml:3:47: NetworkPolicy t/p: metadata.labels.a: invalid label value \"-x\"");
}

Test(validate, label_values)
{
	expect(POD "metadata:\n  name: a\n  labels:\n    app: -web\n",
	       "t.yaml:6:10: Pod default/a: metadata.labels.app: invalid label value \"-web\"");
	expect(POD "metadata:\n  name: a\n  labels:\n    app: a b\n",
	       "invalid label value \"a b\"");
	expect(POD "metadata:\n  name: a\n  labels:\n    app: x/y\n",
	       "invalid label value \"x/y\"");
	expect(POD "metadata:\n  name: a\n  labels:\n    app: "
		   "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
	       "invalid label value");
}

/* kubectl sends `version: 1` as a number and the API server refuses it.
 * YAML-1.1-only booleans (y, yes, on) are read as their text instead: see
 * yaml11_only_bool() in manifest.c. */
Test(validate, label_values_must_be_strings)
{
	expect(POD "metadata:\n  name: a\n  labels:\n    version: 1\n",
	       "t.yaml:6:14: Pod default/a: metadata.labels.version: must be a string, not an "
	       "integer (quote it)");
	expect(POD "metadata:\n  name: a\n  labels:\n    enabled: true\n", "not a boolean");
	expect(POD "metadata:\n  name: a\n  labels:\n    ratio: 1.5\n", "not a number");
	expect(POD "metadata:\n  name: a\n  labels:\n    x: False\n", "not a boolean");
	expect(POD "metadata:\n  name: a\n  labels:\n    x: [a]\n", "must be a string, not a list");
	/* kubectl would send these keys renamed: "true", "80". */
	expect(POD "metadata:\n  name: a\n  labels:\n    true: a\n",
	       "t.yaml:6:5: Pod default/a: metadata.labels: must be a string, not a boolean");
	expect(POD "metadata:\n  name: a\n  labels:\n    0x50: a\n",
	       "must be a string, not an integer");
	expect(POD "metadata:\n  name: a\n  labels: [a, b]\n",
	       "t.yaml:5:11: Pod default/a: metadata.labels: must be a map, not a list");
}

/* ---- selectors ---- */

Test(validate, selector_match_labels)
{
	expect(NP "  ingress:\n  - from:\n    - podSelector: {matchLabels: {\"a b\": x}}\n",
	       "t.yaml:8:35: NetworkPolicy t/p: spec.ingress[0].from[0].podSelector.matchLabels: "
	       "invalid label key \"a b\"");
	expect(NP "  egress:\n  - to:\n    - namespaceSelector: {matchLabels: {team: \"x y\"}}\n",
	       "t.yaml:8:47: NetworkPolicy t/p: spec.egress[0].to[0].namespaceSelector.matchLabels."
	       "team: invalid label value \"x y\"");
	expect("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
	       "metadata: {name: p, namespace: t}\nspec:\n  podSelector: {matchLabels: {a: 1}}\n",
	       "t.yaml:5:34: NetworkPolicy t/p: spec.podSelector.matchLabels.a: must be a string");
}

#define EXPR(e)                                                                                    \
	NP "  ingress:\n  - from:\n    - podSelector:\n        matchExpressions:\n        - " e "\n"

Test(validate, selector_expression_keys_and_values)
{
	expect(EXPR("{key: \"bad key\", operator: Exists}"),
	       "t.yaml:10:17: NetworkPolicy t/p: spec.ingress[0].from[0].podSelector."
	       "matchExpressions[0].key: invalid label key \"bad key\"");
	expect(EXPR("{operator: Exists}"),
	       "t.yaml:10:11: NetworkPolicy t/p: spec.ingress[0].from[0].podSelector."
	       "matchExpressions[0].key: required");
	expect(EXPR("{key: app, operator: In, values: [ok, \"not ok\"]}"),
	       "t.yaml:10:49: NetworkPolicy t/p: spec.ingress[0].from[0].podSelector."
	       "matchExpressions[0].values: invalid label value \"not ok\"");
}

Test(validate, selector_operator)
{
	expect(EXPR("{key: app, operator: Equals, values: [a]}"),
	       "t.yaml:10:32: NetworkPolicy t/p: spec.ingress[0].from[0].podSelector."
	       "matchExpressions[0].operator: unsupported operator \"Equals\"");
	expect(EXPR("{key: app, operator: in, values: [a]}"), "unsupported operator \"in\"");
	expect(EXPR("{key: app, values: [a]}"), "matchExpressions[0].operator: required");
}

Test(validate, selector_values_required_or_forbidden)
{
	expect(EXPR("{key: app, operator: In}"),
	       "t.yaml:10:11: NetworkPolicy t/p: spec.ingress[0].from[0].podSelector."
	       "matchExpressions[0].values: must be non-empty when operator is In");
	expect(EXPR("{key: app, operator: NotIn, values: []}"),
	       "t.yaml:10:47: NetworkPolicy t/p: spec.ingress[0].from[0].podSelector."
	       "matchExpressions[0].values: must be non-empty when operator is NotIn");
	expect(EXPR("{key: app, operator: Exists, values: [a]}"),
	       "t.yaml:10:48: NetworkPolicy t/p: spec.ingress[0].from[0].podSelector."
	       "matchExpressions[0].values: must be empty when operator is Exists");
	expect(EXPR("{key: app, operator: DoesNotExist, values: [a]}"),
	       "must be empty when operator is DoesNotExist");
}

/* ---- peers ---- */

Test(validate, invalid_cidr)
{
	expect(IN_PEER("ipBlock: {cidr: 10.0.0.0}"),
	       "t.yaml:8:23: NetworkPolicy t/p: spec.ingress[0].from[0].ipBlock.cidr: invalid "
	       "CIDR \"10.0.0.0\"");
	expect(IN_PEER("ipBlock: {cidr: 10.0.0.0/33}"), "invalid CIDR \"10.0.0.0/33\"");
	expect(IN_PEER("ipBlock: {cidr: \"2001:db8::/129\"}"), "invalid CIDR \"2001:db8::/129\"");
	expect(IN_PEER("ipBlock: {cidr: everywhere}"), "invalid CIDR \"everywhere\"");
	expect(IN_PEER("ipBlock: {cidr: \"\"}"), "spec.ingress[0].from[0].ipBlock.cidr: required");
	expect(IN_PEER("ipBlock: {except: [10.0.0.0/8]}"),
	       "t.yaml:8:16: NetworkPolicy t/p: spec.ingress[0].from[0].ipBlock.cidr: required");
	expect(IN_PEER("ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0]}"),
	       "ipBlock.except[0]: invalid CIDR \"10.1.0.0\"");
	/* Leading zeros: the API server rejects them (010 is 8 to some parsers). */
	expect(IN_PEER("ipBlock: {cidr: 010.0.0.0/8}"),
	       "t.yaml:8:23: NetworkPolicy t/p: spec.ingress[0].from[0].ipBlock.cidr: invalid "
	       "CIDR \"010.0.0.0/8\": must not have leading zeros");
	expect(IN_PEER("ipBlock: {cidr: 10.0.0.00/8}"), "must not have leading zeros");
	expect(IN_PEER("ipBlock: {cidr: 10.0.0.0/08}"), "must not have leading zeros");
	expect(IN_PEER("ipBlock: {cidr: \"2001:db8::/032\"}"), "must not have leading zeros");
	expect(IN_PEER("ipBlock: {cidr: 10.0.0.0/8, except: [10.01.0.0/16]}"),
	       "ipBlock.except[0]: invalid CIDR \"10.01.0.0/16\": must not have leading zeros");
	/* Zero alone and zeros inside an IPv6 group are fine. */
	const char *ok = IN_PEER("ipBlock: {cidr: 0.0.0.0/0, except: [10.0.0.0/8]}");
	const char *ok6 = IN_PEER("ipBlock: {cidr: \"2001:0db8::/32\"}");

	cr_assert_eq(manifest_load_buffer(&c, "ok.yaml", ok, strlen(ok)), 0);
	cr_assert_eq(manifest_load_buffer(&c, "ok6.yaml", ok6, strlen(ok6)), 0);
}

Test(validate, except_strictly_inside)
{
	expect(IN_PEER("ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16, 192.168.0.0/16]}"),
	       "t.yaml:8:57: NetworkPolicy t/p: spec.ingress[0].from[0].ipBlock.except[1]: "
	       "\"192.168.0.0/16\" must be a strict subset of cidr 10.0.0.0/8");
	expect(IN_PEER("ipBlock: {cidr: 10.0.0.0/8, except: [10.9.9.9/8]}"),
	       "\"10.9.9.9/8\" must be a strict subset");
	expect(IN_PEER("ipBlock: {cidr: 10.0.0.0/16, except: [10.0.0.0/8]}"),
	       "must be a strict subset");
	expect(IN_PEER("ipBlock: {cidr: 10.0.0.0/8, except: [\"2001:db8::/64\"]}"),
	       "must be a strict subset");
	/* IPv4-mapped IPv6 is IPv6: never within an IPv4 cidr, nor the reverse. */
	expect(IN_PEER("ipBlock: {cidr: 10.0.0.0/8, except: [\"::ffff:10.1.0.0/112\"]}"),
	       "\"::ffff:10.1.0.0/112\" must be a strict subset of cidr 10.0.0.0/8 (an IPv6 "
	       "prefix is never within an IPv4 one)");
	expect(IN_PEER("ipBlock: {cidr: \"::ffff:10.0.0.0/104\", except: [10.1.0.0/16]}"),
	       "(an IPv4 prefix is never within an IPv6 one)");
	/* Host bits in except are allowed: 10.1.2.3/16 is 10.1.0.0/16. */
	cr_assert_eq(manifest_load_buffer(
			     &c, "ok.yaml",
			     IN_PEER("ipBlock: {cidr: 10.0.0.0/8, except: [10.1.2.3/16]}"),
			     strlen(IN_PEER("ipBlock: {cidr: 10.0.0.0/8, except: [10.1.2.3/16]}"))),
		     0);
}

Test(validate, ipblock_with_selector)
{
	expect(IN_PEER("{ipBlock: {cidr: 10.0.0.0/8}, podSelector: {}}"),
	       "t.yaml:8:7: NetworkPolicy t/p: spec.ingress[0].from[0]: may not specify both "
	       "ipBlock and another peer");
	expect(NP "  egress:\n  - to:\n    - ipBlock: {cidr: 10.0.0.0/8}\n"
		  "      namespaceSelector: {}\n",
	       "t.yaml:8:7: NetworkPolicy t/p: spec.egress[0].to[0]: may not specify both");
}

Test(validate, peer_without_selector)
{
	expect(IN_PEER("{}"),
	       "t.yaml:8:7: NetworkPolicy t/p: spec.ingress[0].from[0]: must specify a peer");
	expect(NP "  ingress:\n  - from:\n    - podSelector: {}\n    -\n",
	       "t.yaml:9:6: NetworkPolicy t/p: spec.ingress[0].from[1]: must specify a peer");
	expect(IN_PEER("{podSelector: ~}"), "must specify a peer");
}

/* ---- ports ---- */

Test(validate, port_numbers)
{
	expect(IN_PORT("port: 0"),
	       "t.yaml:8:13: NetworkPolicy t/p: spec.ingress[0].ports[0].port: 0 is out of range: "
	       "must be between 1 and 65535");
	expect(IN_PORT("port: 65536"), "ports[0].port: 65536 is out of range");
	expect(IN_PORT("port: -80"), "ports[0].port: -80 is out of range");
	/* Too big for 64 bits: go-yaml reads it as a float. */
	expect(IN_PORT("port: 99999999999999999999999"),
	       "must be a port number or name, not a number");
	expect(IN_PORT("port: 9223372036854775808"), "is out of range");
	expect(IN_PORT("port: 80.5"), "ports[0].port: must be a port number or name, not a number");
	expect(IN_PORT("port: true"), "must be a port number or name, not a boolean");
	expect(IN_PORT("port: [80]"), "must be a port number or name, not a list");
}

Test(validate, named_ports)
{
	expect(IN_PORT("port: HTTP"),
	       "t.yaml:8:13: NetworkPolicy t/p: spec.ingress[0].ports[0].port: invalid port name "
	       "\"HTTP\"");
	/* IntOrString: a quoted number is a string, and a name needs a letter. */
	expect(IN_PORT("port: \"80\""),
	       "invalid port name \"80\": must contain at least one letter");
	expect(IN_PORT("port: http--alt"), "invalid port name \"http--alt\"");
	expect(IN_PORT("port: -http"), "invalid port name \"-http\"");
	expect(IN_PORT("port: http-"), "invalid port name \"http-\"");
	expect(IN_PORT("port: http_alt"), "invalid port name \"http_alt\"");
	expect(IN_PORT("port: abcdefghijklmnop"), "must be 1 to 15 characters");
	expect(IN_PORT("port: \"\""), "invalid port name \"\"");
}

Test(validate, end_port)
{
	expect(IN_PORT("{port: 100, endPort: 99}"),
	       "t.yaml:8:28: NetworkPolicy t/p: spec.ingress[0].ports[0].endPort: 99 must be "
	       "greater than or equal to port 100");
	expect(IN_PORT("{port: http, endPort: 99}"),
	       "t.yaml:8:29: NetworkPolicy t/p: spec.ingress[0].ports[0].endPort: may not be "
	       "specified when port is a name");
	expect(IN_PORT("{endPort: 99}"),
	       "t.yaml:8:17: NetworkPolicy t/p: spec.ingress[0].ports[0].endPort: may not be "
	       "specified when port is not specified");
	expect(IN_PORT("{port: 100, endPort: 65536}"), "endPort: 65536 is out of range");
	expect(IN_PORT("{port: 100, endPort: \"200\"}"),
	       "endPort: must be an integer, not a string");
}

Test(validate, protocols)
{
	expect(IN_PORT("{protocol: tcp, port: 80}"),
	       "t.yaml:8:18: NetworkPolicy t/p: spec.ingress[0].ports[0].protocol: unsupported "
	       "protocol \"tcp\": must be TCP, UDP or SCTP");
	expect(IN_PORT("{protocol: ICMP}"), "unsupported protocol \"ICMP\"");
	expect(POD "metadata: {name: a}\nspec:\n  containers:\n  - name: c\n"
		   "    ports: [{containerPort: 80, protocol: Tcp}]\n",
	       "t.yaml:7:43: Pod default/a: spec.containers[0].ports[0].protocol: unsupported "
	       "protocol \"Tcp\"");
}

/* ---- policy spec ---- */

Test(validate, policy_types)
{
	expect(NP "  policyTypes: [Ingress, ingress]\n",
	       "t.yaml:6:26: NetworkPolicy t/p: spec.policyTypes: unsupported policy type "
	       "\"ingress\": must be Ingress or Egress");
	expect(NP "  policyTypes: [Both]\n", "unsupported policy type \"Both\"");
	expect(NP "  policyTypes: [Ingress, Egress, Ingress]\n",
	       "t.yaml:6:16: NetworkPolicy t/p: spec.policyTypes: may not specify more than two");
	expect(NP "  policyTypes: Ingress\n", "spec.policyTypes: must be a list, not a string");
}

/* The API server defaults a missing spec or spec.podSelector to {}: the
 * policy selects every pod of its namespace. */
Test(validate, pod_selector_defaults_to_all)
{
	const char *no_sel = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
			     "metadata: {name: p, namespace: t}\nspec:\n  ingress: []\n";
	const char *no_spec = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
			      "metadata: {name: q, namespace: t}\n";

	cr_assert_eq(manifest_load_buffer(&c, "t.yaml", no_sel, strlen(no_sel)), 0);
	cr_assert_eq(manifest_load_buffer(&c, "u.yaml", no_spec, strlen(no_spec)), 0);
	cr_assert_eq(c.n_policies, 2);
	for (size_t i = 0; i < 2; i++) {
		cr_assert_eq(c.policies[i].pod_sel.match.n, 0);
		cr_assert_eq(c.policies[i].pod_sel.n_exprs, 0);
	}
}

/* values: [null] decodes as [""] (a []string element), as the server reads it. */
Test(validate, null_expression_value_is_empty)
{
	const char *y = NP "  ingress:\n  - from:\n    - podSelector:\n"
			   "        matchExpressions:\n"
			   "        - {key: app, operator: In, values: [null, ~, a]}\n";

	cr_assert_eq(manifest_load_buffer(&c, "t.yaml", y, strlen(y)), 0);
	const struct np_expr *e = &c.policies[0].rules[NP_INGRESS][0].peers[0].pod_sel.exprs[0];

	cr_assert_eq(e->n_values, 3);
	cr_assert_str_eq(e->values[0], "");
	cr_assert_str_eq(e->values[1], "");
	cr_assert_str_eq(e->values[2], "a");
}

/* Strict field validation, as `kubectl apply` reports it: an unknown field
 * anywhere in a NetworkPolicy is an error at the key. */
Test(validate, policy_unknown_fields)
{
	/* `ports` indented under the `from` item instead of the rule. */
	expect(NP "  ingress:\n  - from:\n    - podSelector: {}\n      ports:\n      - port: 80\n",
	       "t.yaml:9:7: NetworkPolicy t/p: spec.ingress[0].from[0]: unknown field \"ports\"");
	expect(NP "  ingres:\n  - {}\n",
	       "t.yaml:6:3: NetworkPolicy t/p: spec: unknown field \"ingres\"");
	expect(NP "  Ingress: []\n", "spec: unknown field \"Ingress\"");
	expect("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
	       "metadata: {name: p, namespace: t, label: {a: b}}\nspec: {podSelector: {}}\n",
	       "t.yaml:3:35: NetworkPolicy t/p: metadata: unknown field \"label\"");
	expect(NP "specs: {}\n", "t.yaml:6:1: NetworkPolicy t/p: unknown field \"specs\"");
	expect(IN_PORT("{port: 80, protcol: TCP}"),
	       "t.yaml:8:18: NetworkPolicy t/p: spec.ingress[0].ports[0]: unknown field "
	       "\"protcol\"");
	expect(IN_PEER("{ipBlock: {cidr: 10.0.0.0/8, excepts: [10.1.0.0/16]}}"),
	       "spec.ingress[0].from[0].ipBlock: unknown field \"excepts\"");
	expect(IN_PEER("{podSelector: {matchLabel: {a: b}}}"),
	       "spec.ingress[0].from[0].podSelector: unknown field \"matchLabel\"");
	expect(NP "  egress:\n  - from: []\n",
	       "t.yaml:7:5: NetworkPolicy t/p: spec.egress[0]: unknown field \"from\"");
	expect(NP "  egress:\n  - to:\n    - namespaceSelector:\n"
		  "        matchExpressions:\n        - {key: a, operator: Exists, valus: []}\n",
	       "spec.egress[0].to[0].namespaceSelector.matchExpressions[0]: unknown field "
	       "\"valus\"");
}

/* Every field of a real policy is known, metadata's too; Pods and
 * Namespaces keep ignoring what npbpf does not read. */
Test(validate, known_fields_load)
{
	static const char ok[] =
		"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
		"metadata:\n  name: p\n  namespace: t\n  uid: 0b1c\n  resourceVersion: \"7\"\n"
		"  generation: 2\n  creationTimestamp: \"2026-01-01T00:00:00Z\"\n"
		"  labels: {a: b}\n  annotations: "
		"{kubectl.kubernetes.io/last-applied-configuration: "
		"x}\n"
		"  ownerReferences: [{apiVersion: v1, kind: X, name: y, uid: z, controller: "
		"true}]\n"
		"  managedFields:\n  - manager: kubectl\n    operation: Update\n    apiVersion: "
		"networking.k8s.io/v1\n    time: \"2026-01-01T00:00:00Z\"\n    fieldsType: "
		"FieldsV1\n    fieldsV1: {f:spec: {f:anything: {}}}\n"
		"spec:\n  podSelector: {matchLabels: {a: b}, matchExpressions: [{key: a, operator: "
		"In, values: [b]}]}\n  policyTypes: [Ingress, Egress]\n"
		"  ingress:\n  - from:\n    - {podSelector: {}, namespaceSelector: {}}\n"
		"    - ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}\n"
		"    ports: [{protocol: TCP, port: 80, endPort: 90}]\n"
		"  egress:\n  - to: [{podSelector: {}}]\n    ports: [{port: 53, protocol: UDP}]\n"
		"status: {conditions: []}\n"
		"---\n" POD "metadata: {name: a, futureMeta: 1}\nspec: {futureSpec: {x: 1}}\n"
		"status: {futureStatus: 1}\nfutureTop: 1\n"
		"---\n" NS "metadata: {name: n}\nspec: {finalizers: [kubernetes]}\nstatus: {phase: "
		"Active}\n";
	int ret;
	char *out = load_n(ok, sizeof(ok) - 1, &ret);

	cr_assert_eq(ret, 0, "%s", out);
	cr_assert_eq(c.n_policies, 1);
	free(out);
}

/* ---- pods ---- */

Test(validate, pod_ips)
{
	expect(POD "metadata: {name: a}\nstatus:\n  podIP: 198.18.0.256\n",
	       "t.yaml:5:10: Pod default/a: status.podIP: invalid IP address \"198.18.0.256\"");
	expect(POD "metadata: {name: a}\nstatus:\n  podIPs:\n  - ip: 198.18.0.1\n"
		   "  - ip: 198.18.0.0/24\n",
	       "t.yaml:7:9: Pod default/a: status.podIPs[1].ip: invalid IP address "
	       "\"198.18.0.0/24\"");
	expect(POD "metadata: {name: a}\nstatus: {podIP: 1}\n",
	       "status.podIP: must be a string, not an integer");
}

Test(validate, container_ports)
{
	expect(POD "metadata: {name: a}\nspec:\n  containers:\n  - name: c\n"
		   "    ports: [{containerPort: 0}]\n",
	       "t.yaml:7:29: Pod default/a: spec.containers[0].ports[0].containerPort: 0 is out of "
	       "range");
	expect(POD "metadata: {name: a}\nspec:\n  containers:\n  - name: c\n"
		   "    ports: [{containerPort: 65536}]\n",
	       "containerPort: 65536 is out of range");
	expect(POD "metadata: {name: a}\nspec:\n  containers:\n  - name: c\n"
		   "    ports: [{name: http}]\n",
	       "t.yaml:7:13: Pod default/a: spec.containers[0].ports[0].containerPort: required");
	expect(POD "metadata: {name: a}\nspec:\n  containers:\n  - name: c\n"
		   "    ports: [{containerPort: \"80\"}]\n",
	       "containerPort: must be an integer, not a string");
	expect(POD "metadata: {name: a}\nspec:\n  containers:\n  - name: c\n"
		   "    ports: [{containerPort: 80, name: Web}]\n",
	       "t.yaml:7:39: Pod default/a: spec.containers[0].ports[0].name: invalid port name "
	       "\"Web\"");
	expect(POD "metadata: {name: a}\nspec:\n  containers:\n  - name: c\n"
		   "    ports: [{containerPort: 80, name: web}, {containerPort: 81, name: web}]\n",
	       "t.yaml:7:71: Pod default/a: spec.containers[0].ports[1].name: duplicate port "
	       "name \"web\" in one container");
}

/* One name in two containers: the server accepts it with a warning. */
Test(validate, port_name_in_two_containers)
{
	const char *y = POD "metadata: {name: a}\nspec:\n  containers:\n"
			    "  - {name: c, ports: [{containerPort: 80, name: web}]}\n"
			    "  - {name: d, ports: [{containerPort: 81, name: web}]}\n";
	int ret;
	char *out = load_n(y, strlen(y), &ret);

	cr_assert_eq(ret, 0, "%s", out);
	cr_assert_not_null(strstr(out, "t.yaml:7:49: Pod default/a: port name \"web\" is used by "
				       "two containers"),
			   "%s", out);
	cr_assert_eq(count_lines(out), 1, "%s", out);
	free(out);
}

Test(validate, host_network_type)
{
	expect(POD "metadata: {name: a}\nspec: {hostNetwork: \"true\"}\n",
	       "t.yaml:4:21: Pod default/a: spec.hostNetwork: must be a boolean, not a string");
}

Test(validate, node_name_and_host_ip)
{
	expect(POD "metadata: {name: a}\nspec: {nodeName: Node_1}\n",
	       "t.yaml:4:18: Pod default/a: spec.nodeName: invalid node name \"Node_1\"");
	expect(POD "metadata: {name: a}\nspec: {nodeName: 7}\n", "spec.nodeName: must be a string");
	expect(POD "metadata: {name: a}\nstatus: {hostIP: 198.19.0.300}\n",
	       "t.yaml:4:18: Pod default/a: status.hostIP: invalid IP address");
	expect(POD "metadata: {name: a}\nstatus: {hostIPs: [{ip: nope}]}\n",
	       "status.hostIPs[0].ip: invalid IP address \"nope\"");
}

/* ---- shapes ---- */

Test(validate, wrong_types_never_crash)
{
	expect(POD "metadata: {name: a}\nspec: hello\n",
	       "t.yaml:4:7: Pod default/a: spec: must be a map, not a string");
	expect(POD "metadata: web\n", "t.yaml:3:11: Pod: metadata: must be a map, not a string");
	expect(POD "metadata: {name: [a]}\n", "metadata.name: must be a string, not a list");
	expect(POD "metadata: {name: a}\nspec: {containers: {name: x}}\n",
	       "spec.containers: must be a list, not a map");
	expect(POD "metadata: {name: a}\nspec: {containers: [{ports: 80}]}\n",
	       "spec.containers[0].ports: must be a list, not an integer");
	expect(POD "metadata: {name: a}\nspec: {containers: [5]}\n",
	       "spec.containers[0]: must be a map, not an integer");
	expect(POD "metadata: {name: a}\nstatus: {podIPs: {ip: x}}\n",
	       "status.podIPs: must be a list");
	expect(NP "  ingress: {from: []}\n", "spec.ingress: must be a list, not a map");
	expect(NP "  ingress: [[]]\n", "spec.ingress[0]: must be a map, not a list");
	expect(NP "  ingress: [{from: x}]\n", "spec.ingress[0].from: must be a list, not a string");
	expect(NP "  ingress: [{ports: [80]}]\n", "spec.ingress[0].ports[0]: must be a map");
	expect(NP "  egress: [{to: [{podSelector: []}]}]\n",
	       "spec.egress[0].to[0].podSelector: must be a map, not a list");
	expect(NP "  egress: [{to: [{ipBlock: 10.0.0.0/8}]}]\n",
	       "spec.egress[0].to[0].ipBlock: must be a map, not a string");
	expect(NP "  egress: [{to: [{ipBlock: {cidr: 10.0.0.0/8, except: 10.1.0.0/16}}]}]\n",
	       "ipBlock.except: must be a list, not a string");
	expect(EXPR("{key: app, operator: In, values: a}"), "values: must be a list, not a string");
	expect(NP "  ingress:\n  - from:\n    - podSelector: {matchExpressions: {a: b}}\n",
	       "podSelector.matchExpressions: must be a list, not a map");
	expect("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
	       "metadata: {name: p, namespace: t}\nspec: {podSelector: true}\n",
	       "t.yaml:4:21: NetworkPolicy t/p: spec.podSelector: must be a map, not a boolean");
}

Test(validate, documents_that_are_not_objects)
{
	expect("- a\n- b\n", "t.yaml:1:1: an object must be a map, not a list");
	expect("just a string\n", "t.yaml:1:1: an object must be a map, not a string");
	expect("apiVersion: v1\nmetadata: {name: a}\n", "t.yaml:1:1: kind: required");
	expect("kind: [Pod]\n", "t.yaml:1:7: kind: must be a string, not a list");
	expect("kind: List\nitems: {a: b}\n", "t.yaml:2:8: List: items: must be a list, not a map");
	expect("kind: List\napiVersion: v1\nitems:\n- metadata: {name: x}\n",
	       "t.yaml:4:3: kind: required");
}

Test(validate, nul_in_string)
{
	expect(POD "metadata: {name: \"web\\0x\"}\n", "metadata.name: must not contain NUL");
}

Test(validate, unprintable_text_is_masked)
{
	char *out = expect_fail(POD "metadata: {name: \"a\\e[31mred\"}\n");

	cr_assert_null(strchr(out, '\033'), "an escape reached the terminal: %s", out);
	cr_assert_not_null(strstr(out, "a?[31mred"), "%s", out);
	free(out);
}

/* ---- sets of objects ---- */

Test(validate, one_error_fails_the_whole_set)
{
	static const char set[] = POD "metadata: {name: good}\n---\n" POD
				      "metadata: {name: Bad}\n---\n" NS "metadata: {name: fine}\n";
	int ret;
	char *out = load_n(set, sizeof(set) - 1, &ret);

	cr_assert_eq(ret, -EINVAL);
	cr_assert_eq(count_lines(out), 1, "%s", out);
	cr_assert_not_null(cluster_find_pod(&c, "default", "good"), "valid objects are still read");
	cr_assert_null(cluster_find_pod(&c, "default", "Bad"), "an invalid object is dropped");
	cr_assert_not_null(cluster_find_ns(&c, "fine"));
	free(out);
}

Test(validate, every_error_is_reported)
{
	char *out = expect_fail(POD "metadata: {name: A}\nspec: {hostNetwork: 1}\n---\n" NP
				    "  policyTypes: [x]\n  ingress: [{ports: [{port: 0}]}]\n");

	cr_assert_eq(count_lines(out), 4, "%s", out);
	cr_assert_not_null(strstr(out, "t.yaml:3:18: Pod default/A: metadata.name"));
	cr_assert_not_null(strstr(out, "t.yaml:4:21: Pod default/A: spec.hostNetwork"));
	cr_assert_not_null(strstr(out, "t.yaml:11:17: NetworkPolicy t/p: spec.policyTypes"));
	cr_assert_not_null(
		strstr(out, "t.yaml:12:29: NetworkPolicy t/p: spec.ingress[0].ports[0]"));
	free(out);
}

Test(validate, error_in_list_item_names_the_item)
{
	expect("apiVersion: v1\nitems:\n- apiVersion: v1\n  kind: Pod\n"
	       "  metadata: {name: web, namespace: shop}\n  status: {podIP: bad}\n"
	       "kind: List\n",
	       "t.yaml:6:19: Pod shop/web: status.podIP: invalid IP address \"bad\"");
}

struct paths_arg {
	char **paths;
	size_t n;
};

static int load_paths(const void *arg)
{
	const struct paths_arg *p = arg;

	return manifest_load(&c, p->paths, p->n);
}

/* A file with a syntax error is reported; the other inputs are still read. */
Test(validate, syntax_error_in_one_file_of_many)
{
	char *paths[] = {FIXTURES "/bad-syntax.yaml", FIXTURES "/dir"};
	struct paths_arg a = {paths, 2};
	int ret;
	char *out = capture(load_paths, &a, &ret);

	cr_assert_eq(ret, -EINVAL);
	/* One error, and the warnings of the directory's replacements. */
	cr_assert_eq(count_lines(out), 3, "%s", out);
	cr_assert_not_null(strstr(out,
				  "40-override.yaml:3:1: NetworkPolicy shop/p replaces the one "
				  "at "),
			   "%s", out);
	cr_assert_not_null(strstr(out, FIXTURES "/bad-syntax.yaml:4:1: found a tab character that "
						"violates indentation"),
			   "%s", out);
	cr_assert_eq(c.n_policies, 1, "the directory after the bad file was read");
	free(out);
}

/* ---- syntax ---- */

Test(validate, syntax_errors)
{
	expect("kind: Pod\nmetadata:\n\tname: x\n",
	       "t.yaml:3:1: found character that cannot start any token");
	expect("kind: Pod\nmetadata:\n  name: \"abc\n",
	       "t.yaml:4:1: found unexpected end of stream (while scanning a quoted scalar at "
	       "3:9)");
	expect("kind: Pod\nmetadata:\n  name: x\n  name: y\n",
	       "t.yaml:4:3: duplicate key \"name\"");
	expect("kind: Pod\nmetadata: {name: x, name: x}\n", "t.yaml:2:21: duplicate key \"name\"");
	expect("kind: Pod\nmetadata: *m\n", "t.yaml:2:11: unknown alias *m");
	expect("kind: Pod\nmetadata:\n  <<: 5\n", "t.yaml:3:7: a merge key (<<) needs a map");
	expect("? [a]\n: b\n", "t.yaml:1:3: a mapping key must be a scalar");
	expect("{\"kind\": \"Pod\", \"metadata\": {\"name\": \"x\"}",
	       "did not find expected ',' or '}'");
	expect("kind: Pod\n  metadata: x\n", "t.yaml:2:11: mapping values are not allowed");
}

Test(validate, invalid_utf8_and_control_bytes)
{
	static const char bad_utf8[] = "kind: Pod\nmetadata:\n  name: \"ab\xff\xfe\"\n";
	static const char nul[] = "kind: Pod\nmetadata: {name: a\0b}\n";
	static const char esc[] = "kind: Pod\x1b\n";
	int ret;
	char *out;

	out = load_n(bad_utf8, sizeof(bad_utf8) - 1, &ret);
	cr_assert_eq(ret, -EINVAL);
	cr_assert_not_null(strstr(out, "t.yaml:3:12: invalid leading UTF-8 octet (0xFF)"), "%s",
			   out);
	free(out);
	out = load_n(nul, sizeof(nul) - 1, &ret);
	cr_assert_eq(ret, -EINVAL);
	cr_assert_not_null(strstr(out, "t.yaml:2:19: control characters are not allowed (0x0)"),
			   "%s", out);
	free(out);
	out = load_n(esc, sizeof(esc) - 1, &ret);
	cr_assert_eq(ret, -EINVAL);
	cr_assert_not_null(strstr(out, "t.yaml:1:10: control characters are not allowed"), "%s",
			   out);
	free(out);
}

/* ---- hostile input: quick, clean failures ---- */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Loads len bytes, expects -EINVAL within a second and want in the log. */
static void expect_fast_fail(const char *text, size_t len, const char *want)
{
	double t0 = now(), secs;
	int ret;
	char *out = load_n(text, len, &ret);

	secs = now() - t0;
	cr_assert_eq(ret, -EINVAL);
	cr_assert_not_null(strstr(out, want), "wanted \"%s\" in:\n%.300s", want, out);
	cr_assert_lt(secs, 1.0, "took %.2f s", secs);
	free(out);
}

/* "Billion laughs": nine levels of nine aliases name 9^9 nodes. */
Test(hostile, alias_bomb, .timeout = 20)
{
	static const char bomb[] = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
				   "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
				   "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
				   "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
				   "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
				   "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
				   "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
				   "h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
				   "i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]\n"
				   "kind: Pod\n";

	expect_fast_fail(bomb, sizeof(bomb) - 1, "t.yaml:8:8: document too large");
}

/* Merge keys cannot multiply: merged pairs are shared, and a key merged
 * twice is kept once, so thirty levels of eight-way merges stay small. */
Test(hostile, merge_keys_do_not_multiply, .timeout = 20)
{
	char *buf = malloc(1 << 16), *p = buf;
	double t0 = now();
	int i, j, ret;
	char *out;

	p += sprintf(p, "kind: ConfigMap\na0: &a0 {k0: v, k1: v, k2: v, k3: v}\n");
	for (i = 1; i < 30; i++) {
		p += sprintf(p, "a%d: &a%d {x%d: v, <<: [", i, i, i);
		for (j = 0; j < 8; j++)
			p += sprintf(p, "%s*a%d", j ? ", " : "", i - 1);
		p += sprintf(p, "]}\n");
	}
	out = load_n(buf, (size_t)(p - buf), &ret);
	cr_assert_eq(ret, 0, "%s", out);
	cr_assert_lt(now() - t0, 1.0);
	free(out);
	free(buf);
}

/* An anchor in a List's head aliased by every item: items are freed as
 * they are read, but what their aliases expand to stays charged, so the
 * List fails as the same aliases outside a List do (it once took 3 GB and
 * 26 s, and was accepted). */
Test(hostile, alias_in_list_head_charged_per_item, .timeout = 20)
{
	size_t n_items = 20000, size = 64 << 20;
	char *buf = malloc(size), *p = buf;
	const char *kinds[] = {"List", NULL};

	for (int form = 0; form < 2; form++) {
		p = buf;
		p += sprintf(p, "apiVersion: v1\n%s%s\nmetadata:\n  big: &big {",
			     kinds[form] ? "kind: " : "", kinds[form] ? kinds[form] : "");
		for (int i = 0; i < 4000; i++)
			p += sprintf(p, "%sk%d: v", i ? ", " : "", i);
		p += sprintf(p, "}\n%s:\n", form ? "notItems" : "items");
		for (size_t i = 0; i < n_items; i++)
			p += sprintf(p,
				     "- {apiVersion: v1, kind: Pod, metadata: {name: p%zu, "
				     "annotations: *big}}\n",
				     i);
		if (form)
			p += sprintf(p, "kind: List\n");
		cr_assert_lt((size_t)(p - buf), size);
		expect_fast_fail(buf, (size_t)(p - buf), "document too large");
		cluster_free(&c);
		cluster_init(&c);
	}
	free(buf);
}

Test(hostile, depth_bomb_flow, .timeout = 20)
{
	size_t n = 100000;
	char *buf = malloc(n);

	memset(buf, '[', n);
	expect_fast_fail(buf, n, "t.yaml:1:65: nested deeper than 64 levels");
	memset(buf, '{', n);
	expect_fast_fail(buf, n, "nested deeper than 64 levels");
	free(buf);
}

Test(hostile, depth_bomb_json_objects, .timeout = 20)
{
	size_t i, n = 100000;
	char *buf = malloc(n * 6);

	for (i = 0; i < n; i++)
		memcpy(buf + i * 6, "{\"a\": ", 6);
	expect_fast_fail(buf, n * 6, "nested deeper than 64 levels");
	free(buf);
}

Test(hostile, depth_bomb_block, .timeout = 20)
{
	size_t i, len = 0, cap = 1 << 20;
	char *buf = malloc(cap);

	for (i = 0; i < 1000; i++)
		len += (size_t)snprintf(buf + len, cap - len, "%*sk:\n", (int)(i % 500), "");
	len = 0;
	for (i = 0; i < 200; i++)
		len += (size_t)snprintf(buf + len, cap - len, "%*s- \n", (int)(2 * i), "");
	expect_fast_fail(buf, len, "nested deeper than 64 levels");
	free(buf);
}

Test(hostile, two_mib_scalar, .timeout = 20)
{
	size_t n = 2 << 20;
	char *buf = malloc(n + 16);

	cr_assert_not_null(buf);
	memcpy(buf, "kind: ", 6);
	memset(buf + 6, 'x', n);
	expect_fast_fail(buf, n + 6,
			 "t.yaml:1:7: scalar of 2097152 bytes is longer than the limit");
	memcpy(buf, "kind: \"", 7);
	buf[n + 6] = '"';
	expect_fast_fail(buf, n + 7, "is longer than the limit");
	free(buf);
}

Test(hostile, input_too_large)
{
	int ret;
	char *out = load_n("", YT_MAX_INPUT + 1, &ret);

	cr_assert_eq(ret, -EINVAL, "an input error like the others");
	cr_assert_not_null(strstr(out, "t.yaml: input larger than 512 MiB"), "%s", out);
	free(out);
}

/* Every prefix of real manifests: truncated downloads, half-written files. */
static void truncate_everywhere(const char *path, size_t step)
{
	FILE *f = fopen(path, "rb");
	char *buf = malloc(1 << 20);
	size_t len, cut;

	cr_assert_not_null(f);
	len = fread(buf, 1, 1 << 20, f);
	fclose(f);
	cr_redirect_stderr();
	for (cut = 0; cut < len; cut += step) {
		int ret = manifest_load_buffer(&c, "cut.yaml", buf, cut);

		cr_assert(ret == 0 || ret == -EINVAL, "cut at %zu: %d", cut, ret);
		cluster_free(&c);
	}
	free(buf);
}

Test(hostile, truncated_json, .timeout = 60)
{
	truncate_everywhere(FIXTURES "/kubectl-list.json", 13);
}

Test(hostile, truncated_yaml, .timeout = 60)
{
	truncate_everywhere(FIXTURES "/kubectl-list.yaml", 11);
}

static int count_docs(const struct yt_node *root, const char *file, void *arg)
{
	(*(int *)arg)++;
	return 0;
}

/* Random bytes and random mutations of a manifest: errors, never crashes
 * (this is what ASan/UBSan builds are for). */
Test(hostile, random_bytes, .timeout = 60)
{
	static const char alphabet[] = "{}[]:,-?&*!|>'\"%@`#\n\t \\abc0123456789\xc3\xa9\xff<";
	FILE *f = fopen(FIXTURES "/kubectl-list.yaml", "rb");
	char *orig = malloc(1 << 20), *buf = malloc(1 << 20);
	unsigned long long x = 88172645463325252ull;
	size_t len, i, k;
	int docs = 0;

	cr_assert_not_null(f);
	len = fread(orig, 1, 1 << 20, f);
	fclose(f);
	cr_redirect_stderr();
	for (i = 0; i < 400; i++) {
		memcpy(buf, orig, len);
		for (k = 0; k < 1 + i % 8; k++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			buf[x % len] = alphabet[(x >> 32) % (sizeof(alphabet) - 1)];
		}
		(void)yt_parse_buffer("fuzz", buf, len, count_docs, NULL, &docs);
		(void)manifest_load_buffer(&c, "fuzz.yaml", buf, len);
		cluster_free(&c);
	}
	for (i = 0; i < 2000; i++) {
		size_t n = 1 + i % 200;

		for (k = 0; k < n; k++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			buf[k] = alphabet[x % (sizeof(alphabet) - 1)];
		}
		(void)manifest_load_buffer(&c, "fuzz.yaml", buf, n);
		cluster_free(&c);
	}
	free(orig);
	free(buf);
}

Test(validate, yaml11_only_booleans_are_strings_in_string_fields)
{
	const char *yaml = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  namespace: y\n"
			   "  labels: {x: n, enabled: yes}\n";

	cr_assert_eq(manifest_load_buffer(&c, "t.yaml", yaml, strlen(yaml)), 0);
	cr_assert_not_null(cluster_find_pod(&c, "y", "a"));
	cr_assert_str_eq(labels_get(&c.pods[0].labels, "x"), "n");
	cr_assert_str_eq(labels_get(&c.pods[0].labels, "enabled"), "yes");
}
