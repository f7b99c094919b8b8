/* SPDX-License-Identifier: Apache-2.0 */
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hmap.h"
#include "model.h"

/* ---- labels ---- */

Test(labels, sorted_by_key_and_replaced)
{
	struct np_labels l = {0};

	cr_assert_eq(labels_set(&l, "tier", "web"), 0);
	cr_assert_eq(labels_set(&l, "app", "shop"), 0);
	cr_assert_eq(labels_set(&l, "zone", "a"), 0);
	cr_assert_eq(labels_set(&l, "env", "prod"), 0);
	cr_assert_eq(l.n, 4);
	cr_assert_str_eq(l.v[0].key, "app");
	cr_assert_str_eq(l.v[1].key, "env");
	cr_assert_str_eq(l.v[2].key, "tier");
	cr_assert_str_eq(l.v[3].key, "zone");

	cr_assert_eq(labels_set(&l, "tier", "db"), 0);
	cr_assert_eq(l.n, 4);
	cr_assert_str_eq(labels_get(&l, "tier"), "db");
	cr_assert_str_eq(labels_get(&l, "app"), "shop");
	cr_assert_null(labels_get(&l, "missing"));
	labels_free(&l);
	cr_assert_eq(l.n, 0);
	cr_assert_null(l.v);
}

Test(labels, empty_value_and_empty_set)
{
	struct np_labels l = {0};

	cr_assert_null(labels_get(&l, "a"));
	cr_assert_eq(labels_set(&l, "a", ""), 0);
	cr_assert_str_eq(labels_get(&l, "a"), "");
	labels_free(&l);
	labels_free(&l); /* twice is fine */
}

/* ---- addresses ---- */

static void check_addr(const char *text, bool prefix, const char *want)
{
	struct np_addr a;
	char buf[64];

	cr_assert_eq(addr_parse(text, prefix, &a), 0, "%s did not parse", text);
	cr_assert_str_eq(addr_format(&a, buf, sizeof(buf)), want, "%s formats as %s, not %s", text,
			 buf, want);
}

Test(addr, ipv4)
{
	struct np_addr a;

	cr_assert_eq(addr_parse("198.18.0.1", false, &a), 0);
	cr_assert_eq(a.family, 4);
	cr_assert_eq(a.plen, 32);
	cr_assert_eq(a.bytes[0], 198);
	cr_assert_eq(a.bytes[3], 1);
	check_addr("198.18.0.1", false, "198.18.0.1");
	check_addr("198.18.0.0/15", true, "198.18.0.0/15");
	check_addr("198.18.0.1/32", true, "198.18.0.1");
	check_addr("0.0.0.0/0", true, "0.0.0.0/0");
}

/* The API server accepts host bits and means the network. */
Test(addr, prefix_normalised_to_network)
{
	struct np_addr a;

	check_addr("198.18.1.10/4", true, "192.0.0.0/4");
	check_addr("198.18.255.255/16", true, "198.18.0.0/16");
	check_addr("10.1.2.3/0", true, "0.0.0.0/0");
	check_addr("198.18.3.7/31", true, "198.18.3.6/31");
	check_addr("2001:db8:1:2::5/48", true, "2001:db8:1::/48");
	check_addr("2001:db8::ff/121", true, "2001:db8::80/121");
	cr_assert_eq(addr_parse("198.18.1.10/4", true, &a), 0);
	cr_assert_eq(a.plen, 4);
	cr_assert_eq(a.bytes[1], 0);
}

Test(addr, ipv6)
{
	struct np_addr a;

	cr_assert_eq(addr_parse("2001:db8::1", false, &a), 0);
	cr_assert_eq(a.family, 6);
	cr_assert_eq(a.plen, 128);
	check_addr("2001:db8::1", false, "2001:db8::1");
	check_addr("2001:DB8:0:0::10", false, "2001:db8::10");
	check_addr("::/0", true, "::/0");
	check_addr("::1", false, "::1");
	check_addr("2001:db8::/32", true, "2001:db8::/32");
}

Test(addr, rejects)
{
	static const char *const bad[] = {
		"",
		"198.18.0",
		"198.18.0.256",
		"198.18.0.1/33",
		"198.18.0.1/",
		"198.18.0.1/a",
		"198.18.0.1/-1",
		"198.18.0.1/+8",
		"198.18.0.1/0008",
		" 198.18.0.1",
		"198.18.0.1 ",
		"2001:db8::/129",
		"2001:db8:::1",
		"2001:db8::1%eth0",
		"fe80::1/64/1",
		"localhost",
		"198.18.0.1:80",
		"/8",
	};
	struct np_addr a;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(addr_parse(bad[i], true, &a), -EINVAL, "accepted \"%s\"", bad[i]);
	cr_assert_eq(addr_parse("198.18.0.0/16", false, &a), -EINVAL);
	cr_assert_eq(addr_parse("2001:db8::/32", false, &a), -EINVAL);
}

static struct np_addr addr(const char *text)
{
	struct np_addr a;

	cr_assert_eq(addr_parse(text, true, &a), 0, "%s", text);
	return a;
}

Test(addr, contains)
{
	struct np_addr net = addr("198.18.0.0/15"), sub = addr("198.19.4.0/24");
	struct np_addr in = addr("198.19.255.255"), out = addr("198.20.0.1");
	struct np_addr v6 = addr("2001:db8::/32"), v6in = addr("2001:db8:5::1");
	struct np_addr all = addr("0.0.0.0/0"), odd = addr("198.18.0.0/17");

	cr_assert(addr_contains(&net, &sub));
	cr_assert(addr_contains(&net, &in));
	cr_assert(addr_contains(&net, &net));
	cr_assert_not(addr_contains(&net, &out));
	cr_assert_not(addr_contains(&sub, &net), "a longer prefix never contains a shorter one");
	cr_assert(addr_contains(&all, &in));
	cr_assert_not(addr_contains(&all, &v6in), "families never mix");
	cr_assert(addr_contains(&v6, &v6in));
	cr_assert_not(addr_contains(&v6, &in));
	cr_assert(addr_contains(&odd, &(struct np_addr){4, 32, {198, 18, 127, 255}}));
	cr_assert_not(addr_contains(&odd, &(struct np_addr){4, 32, {198, 18, 128, 0}}));
}

Test(addr, compare)
{
	struct np_addr a = addr("198.18.0.1"), b = addr("198.18.0.2"), c = addr("2001:db8::1");
	struct np_addr n16 = addr("198.18.0.0/16"), n24 = addr("198.18.0.0/24");

	cr_assert_eq(addr_cmp(&a, &a), 0);
	cr_assert_lt(addr_cmp(&a, &b), 0);
	cr_assert_gt(addr_cmp(&b, &a), 0);
	cr_assert_lt(addr_cmp(&a, &c), 0, "IPv4 sorts before IPv6");
	cr_assert_lt(addr_cmp(&n16, &n24), 0);
}

Test(addr, format_small_buffer_is_safe)
{
	struct np_addr a = addr("2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff");
	char buf[8];

	addr_format(&a, buf, sizeof(buf));
	cr_assert_lt(strlen(buf), sizeof(buf));
}

/* ---- protocols ---- */

Test(proto, names)
{
	cr_assert_eq(proto_parse("TCP"), IPPROTO_TCP);
	cr_assert_eq(proto_parse("UDP"), IPPROTO_UDP);
	cr_assert_eq(proto_parse("SCTP"), IPPROTO_SCTP);
	cr_assert_eq(proto_parse("tcp"), 0, "case-sensitive, as the API server");
	cr_assert_eq(proto_parse("ICMP"), 0);
	cr_assert_eq(proto_parse(""), 0);
	cr_assert_eq(proto_parse(NULL), 0);
	cr_assert_str_eq(proto_name(IPPROTO_TCP), "TCP");
	cr_assert_str_eq(proto_name(IPPROTO_UDP), "UDP");
	cr_assert_str_eq(proto_name(IPPROTO_SCTP), "SCTP");
	cr_assert_not_null(proto_name(99));
}

/* ---- the cluster ---- */

static void add_ns(struct np_cluster *c, const char *name)
{
	struct np_namespace *ns;

	c->namespaces = realloc(c->namespaces, (c->n_namespaces + 1) * sizeof(*ns));
	ns = &c->namespaces[c->n_namespaces++];
	c->cap_namespaces = c->n_namespaces;
	memset(ns, 0, sizeof(*ns));
	ns->name = strdup(name);
	cr_assert_eq(labels_set(&ns->labels, "kubernetes.io/metadata.name", name), 0);
}

static void add_pod(struct np_cluster *c, const char *ns, const char *name)
{
	struct np_pod *p;

	if (c->n_pods == c->cap_pods) {
		c->cap_pods = c->cap_pods ? c->cap_pods * 2 : 16;
		c->pods = realloc(c->pods, c->cap_pods * sizeof(*p));
	}
	p = &c->pods[c->n_pods++];
	memset(p, 0, sizeof(*p));
	p->ns = strdup(ns);
	p->name = strdup(name);
}

Test(cluster, empty)
{
	struct np_cluster c;

	cluster_init(&c);
	cr_assert_eq(cluster_finalize(&c), 0);
	cr_assert_null(cluster_find_ns(&c, "default"));
	cr_assert_null(cluster_find_pod(&c, "default", "x"));
	cluster_free(&c);
	cluster_free(&c);
}

Test(cluster, find_after_finalize)
{
	struct np_cluster c;

	cluster_init(&c);
	add_ns(&c, "prod");
	add_ns(&c, "dev");
	add_ns(&c, "kube-system");
	add_pod(&c, "prod", "web");
	add_pod(&c, "dev", "web");
	add_pod(&c, "prod", "db");
	cr_assert_eq(cluster_finalize(&c), 0);

	cr_assert_str_eq(c.namespaces[0].name, "dev");
	cr_assert_str_eq(c.namespaces[2].name, "prod");
	cr_assert_str_eq(cluster_find_ns(&c, "kube-system")->name, "kube-system");
	cr_assert_null(cluster_find_ns(&c, "nope"));
	cr_assert_str_eq(cluster_find_pod(&c, "prod", "db")->ns, "prod");
	cr_assert_str_eq(cluster_find_pod(&c, "dev", "web")->ns, "dev");
	cr_assert_str_eq(cluster_find_pod(&c, "prod", "web")->ns, "prod");
	cr_assert_null(cluster_find_pod(&c, "dev", "db"));
	cr_assert_null(cluster_find_pod(&c, "kube-system", "web"));
	cr_assert_eq(c.n_namespaces, 3, "no implicit namespace: all were declared");
	cluster_free(&c);
}

Test(cluster, implicit_namespaces)
{
	struct np_cluster c;
	struct np_namespace *ns;

	cluster_init(&c);
	add_ns(&c, "prod");
	add_pod(&c, "team-b", "x");
	add_pod(&c, "prod", "web");
	add_pod(&c, "team-a", "y");
	add_pod(&c, "team-b", "z");
	cr_assert_eq(cluster_finalize(&c), 0);
	cr_assert_eq(c.n_namespaces, 3);
	cr_assert_str_eq(c.namespaces[0].name, "prod");
	cr_assert_str_eq(c.namespaces[1].name, "team-a");
	cr_assert_str_eq(c.namespaces[2].name, "team-b");
	ns = cluster_find_ns(&c, "team-b");
	cr_assert(ns->implicit);
	cr_assert_not(cluster_find_ns(&c, "prod")->implicit);
	cr_assert_str_eq(labels_get(&ns->labels, "kubernetes.io/metadata.name"), "team-b");
	cr_assert_eq(ns->labels.n, 1);

	/* Finalizing again adds nothing. */
	cr_assert_eq(cluster_finalize(&c), 0);
	cr_assert_eq(c.n_namespaces, 3);
	cluster_free(&c);
}

Test(cluster, ten_thousand_pods_are_fast)
{
	struct np_cluster c;
	struct timespec t0, t1;
	char ns[32], name[32];
	double secs;
	int i;

	cluster_init(&c);
	for (i = 9999; i >= 0; i--) {
		snprintf(ns, sizeof(ns), "ns-%d", i % 100);
		snprintf(name, sizeof(name), "pod-%d", i);
		add_pod(&c, ns, name);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cr_assert_eq(cluster_finalize(&c), 0);
	for (i = 0; i < 10000; i++) {
		snprintf(ns, sizeof(ns), "ns-%d", i % 100);
		snprintf(name, sizeof(name), "pod-%d", i);
		cr_assert_not_null(cluster_find_pod(&c, ns, name));
		cr_assert_not_null(cluster_find_ns(&c, ns));
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	cr_assert_lt(secs, 0.5, "finalize + 20,000 lookups took %.3f s", secs);
	cr_assert_eq(c.n_namespaces, 100);
	cluster_free(&c);
}

/* ---- hmap ---- */

/* Keys of every length the hash reads differently (short ones byte by byte,
 * long ones a word at a time with a 1-7 byte tail). */
Test(hmap, keys_of_every_length_found_and_distinct)
{
	struct hmap m;
	char key[80];

	hmap_init(&m);
	for (uint32_t len = 1; len <= sizeof(key); len++) {
		memset(key, 'k', sizeof(key));
		key[len - 1] = (char)len;
		cr_assert_eq(hmap_insert(&m, key, len, len, NULL), 1, "len %u", len);
	}
	for (uint32_t len = 1; len <= sizeof(key); len++) {
		uint32_t v = 0;

		memset(key, 'k', sizeof(key));
		key[len - 1] = (char)len;
		cr_assert(hmap_get(&m, key, len, &v), "len %u", len);
		cr_assert_eq(v, len);
		key[len - 1] = (char)(len + 100); /* the last byte matters too */
		cr_assert_not(hmap_get(&m, key, len, NULL), "len %u", len);
	}
	cr_assert_eq(m.n_used, sizeof(key));
	hmap_free(&m);
}

Test(hmap, reserve_sizes_once_and_never_shrinks)
{
	struct hmap m;

	hmap_init(&m);
	cr_assert_eq(hmap_reserve(&m, 1000, 4000), 0);
	size_t slots = m.n_slots;
	char *keys = m.keys;

	cr_assert_geq(slots, 2000);
	for (uint32_t i = 0; i < 1000; i++)
		cr_assert_eq(hmap_insert(&m, &i, sizeof(i), i * 3, NULL), 1);
	cr_assert_eq(m.n_slots, slots, "no growth up to the reserved count");
	cr_assert_eq(m.keys, keys, "no key move up to the reserved bytes");
	cr_assert_eq(hmap_reserve(&m, 10, 10), 0);
	cr_assert_eq(m.n_slots, slots, "never shrinks");
	cr_assert_eq(hmap_reserve(&m, 5000, 0), 0);
	cr_assert_geq(m.n_slots, 10000);
	for (uint32_t i = 0; i < 1000; i++) {
		uint32_t v;

		cr_assert(hmap_get(&m, &i, sizeof(i), &v));
		cr_assert_eq(v, i * 3, "values survive the rehash");
	}
	hmap_free(&m);
	hmap_init(&m);
	cr_assert_eq(hmap_reserve(&m, 0, 0), 0);
	cr_assert_not(hmap_get(&m, "x", 1, NULL));
	cr_assert_eq(hmap_insert(&m, "x", 1, 7, NULL), 1);
	hmap_free(&m);
}
