/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kube_list_cluster (user/kube/kube_list.h) against the fake API server
 * (tests/apiserver/apiserver.py): every page of every kind lands in the
 * model, finalized; the resourceVersions the lab waits for; invalid objects
 * skipped and counted; a Status and a dead server are errors. And
 * kube_rv_cmp.
 */
#include "../kube/kube_harness.h"
#include "kube_list.h"
#include "log.h"

static struct kube_client *cli;

static void setup(void)
{
	const char *lv = getenv("NPBPF_TEST_LOG");

	if (lv)
		log_set_level((enum log_level)atoi(lv));
	cli = NULL;
}

static void teardown(void)
{
	kube_client_free(cli);
	cli = NULL;
	h_server_stop();
}

TestSuite(kube_list, .init = setup, .fini = teardown, .timeout = 90);

Test(kube_list, rv_cmp)
{
	cr_assert_eq(kube_rv_cmp("9", "10"), -1);
	cr_assert_eq(kube_rv_cmp("10", "9"), 1);
	cr_assert_eq(kube_rv_cmp("010", "10"), 0);
	cr_assert_lt(kube_rv_cmp("", "1"), 0);
	cr_assert_gt(kube_rv_cmp("123456789012345678901", "99"), 0);
	cr_assert_eq(kube_rv_cmp("abc", "abc"), 0);
}

Test(kube_list, pages_of_every_kind)
{
	char *objs[16], *seed;
	struct kube_list_info info;
	struct np_cluster c;
	size_t n = 0;

	objs[n++] = h_ns("a");
	objs[n++] = h_ns("b");
	for (int i = 0; i < 7; i++) {
		char name[16];

		snprintf(name, sizeof(name), "p%d", i);
		objs[n++] = h_pod(i < 4 ? "a" : "c", name, i % 2 ? "web" : "db", i);
	}
	objs[n++] = h_policy("a", "np1", 80);
	objs[n++] = h_policy("b", "np2", 443);
	objs[n++] = h_policy("a", "np3", 8080);
	seed = h_list(objs, n);
	h_server_start(seed, NULL);
	free(seed);
	cli = h_client();
	cluster_init(&c);
	cr_assert_eq(kube_list_cluster_opts(cli, 2, &c, &info), 0);
	cr_assert_eq(info.n_objects[KUBE_NAMESPACES], 2);
	cr_assert_eq(info.n_objects[KUBE_PODS], 7);
	cr_assert_eq(info.n_objects[KUBE_POLICIES], 3);
	cr_assert_eq(info.pages[KUBE_PODS], 4);
	cr_assert_eq(info.pages[KUBE_POLICIES], 2);
	for (int k = 0; k < KUBE_N_KINDS; k++) {
		cr_assert(info.rv[k][0], "kind %d has no list resourceVersion", k);
		cr_assert(info.max_rv[k][0]);
		cr_assert_leq(kube_rv_cmp(info.max_rv[k], info.rv[k]), 0);
	}
	/* finalized: namespace c implied by its pods, sorted; addresses kept */
	cr_assert_eq(c.n_namespaces, 3);
	cr_assert_str_eq(c.namespaces[2].name, "c");
	cr_assert(c.namespaces[2].implicit);
	cr_assert_eq(c.n_pods, 7);
	cr_assert_not_null(cluster_find_pod(&c, "c", "p6"));
	cr_assert_eq(cluster_find_pod(&c, "a", "p0")->n_addrs, 1);
	cr_assert_str_eq(cluster_find_pod(&c, "a", "p1")->node, "node-a");
	cr_assert_str_eq(labels_get(&cluster_find_pod(&c, "a", "p1")->labels, "app"), "web");
	cr_assert_eq(c.n_policies, 3);
	cluster_free(&c);
}

Test(kube_list, invalid_objects_skipped)
{
	char *objs[3], *seed;
	struct kube_list_info info;
	struct np_cluster c;

	objs[0] = h_policy("a", "good", 80);
	objs[1] = h_policy("a", "bad", 70000);
	objs[2] = h_ns("a");
	seed = h_list(objs, 3);
	h_server_start(seed, NULL);
	free(seed);
	cli = h_client();
	cluster_init(&c);
	cr_assert_eq(kube_list_cluster(cli, &c, &info), 0);
	cr_assert_eq(info.n_objects[KUBE_POLICIES], 1);
	cr_assert_eq(info.n_invalid[KUBE_POLICIES], 1);
	cr_assert_eq(c.n_policies, 1);
	cr_assert_str_eq(c.policies[0].name, "good");
	cluster_free(&c);
}

Test(kube_list, errors)
{
	char *objs[1], *seed;
	struct np_cluster c;

	objs[0] = h_ns("a");
	seed = h_list(objs, 1);
	h_server_start(seed, "{\"status_500\": 100}");
	free(seed);
	cli = h_client();
	cluster_init(&c);
	cr_assert_eq(kube_list_cluster(cli, &c, NULL), -EIO);
	cluster_free(&c);
	h_server_stop();
	cluster_init(&c);
	cr_assert_lt(kube_list_cluster(cli, &c, NULL), 0);
	cluster_free(&c);
}
