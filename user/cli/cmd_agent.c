/* SPDX-License-Identifier: Apache-2.0 */
/* npbpf agent: the node agent (user/agent/agent.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "commands.h"
#include "log.h"
#include "options.h"
#include "pinned.h"

enum {
	OPT_NODE = CLI_OPT_LONG,
	OPT_KUBECONFIG,
	OPT_API_SERVER,
	OPT_LISTEN,
	OPT_LOG_FORMAT,
	OPT_PIN_DIR,
	OPT_NODE_NETNS,
	OPT_STATE_FILE,
	OPT_XDP,
	OPT_NO_BRIDGED,
	OPT_ENFORCE_HOST,
	OPT_BATCH_MS,
	OPT_WATCH_TIMEOUT,
	OPT_NO_STREAMING_LIST,
	OPT_PAGE_SIZE,
	OPT_ONCE,
	OPT_CNI_SOCKET,
};

const struct cli_opt agent_opts[] = {
	{ "node", OPT_NODE, "NAME", "this node's name (default: $NODE_NAME)" },
	{ "kubeconfig", OPT_KUBECONFIG, "FILE",
	  "credentials and address (default: $KUBECONFIG, else in-cluster)" },
	{ "api-server", OPT_API_SERVER, "URL", "the API server's address, overriding the rest" },
	{ "listen", OPT_LISTEN, "ADDR:PORT",
	  "/metrics, /healthz, /readyz (default " AGENT_DEFAULT_LISTEN "; off: none)" },
	{ "log-format", OPT_LOG_FORMAT, "text|json", "log lines for people or collectors" },
	{ "pin-dir", OPT_PIN_DIR, "DIR", "where maps and programs are pinned (default " PINNED_DEFAULT_DIR ")" },
	{ "node-netns", OPT_NODE_NETNS, "PATH",
	  "the node's network namespace (a netns file) for veths and TC; the API\n"
	  "connection stays in the agent's own" },
	{ "state-file", OPT_STATE_FILE, "FILE",
	  "where status finds the agent's state (default " AGENT_DEFAULT_STATE_FILE ")" },
	{ "xdp", OPT_XDP, NULL, "judge what pods send in XDP too, before TC" },
	{ "no-bridged", OPT_NO_BRIDGED, NULL,
	  "pods do not share a bridge (routed CNI): no pod-to-pod neighbour discovery" },
	{ "enforce-host", OPT_ENFORCE_HOST, NULL,
	  "the node's own traffic to isolated pods is policy traffic (default: allowed)" },
	{ "batch-ms", OPT_BATCH_MS, "N", "apply events arriving within N ms together (default 15)" },
	{ "watch-timeout", OPT_WATCH_TIMEOUT, "SECONDS", "watch timeoutSeconds base (default 300)" },
	{ "no-streaming-list", OPT_NO_STREAMING_LIST, NULL,
	  "always list with paginated LIST, never sendInitialEvents" },
	{ "page-size", OPT_PAGE_SIZE, "N", "LIST page size (default 500)" },
	{ "cni-socket", OPT_CNI_SOCKET, "PATH",
	  "where npbpf-cni announces new pods (default " AGENT_DEFAULT_CNI_SOCKET "; off: none)" },
	{ "once", OPT_ONCE, NULL, "exit after the first complete sync (tests, benchmarks)" },
	{ 0 },
};

int cmd_agent(const struct command *self, int argc, char **argv)
{
	struct agent_opts o = {
		.node = getenv("NODE_NAME"),
		.kubeconfig = NULL,
		.listen = AGENT_DEFAULT_LISTEN,
		.bridged = true,
		.batch_ms = AGENT_DEFAULT_BATCH_MS,
	};
	struct cli_parser p;
	uint64_t v;
	int c, err = 0;

	cli_parser_init(&p, agent_opts);
	while (!err && (c = cli_next(&p, argc, argv)) != -1) {
		switch (c) {
		case OPT_NODE:
			o.node = optarg;
			break;
		case OPT_KUBECONFIG:
			o.kubeconfig = optarg;
			break;
		case OPT_API_SERVER:
			o.api_server = optarg;
			break;
		case OPT_LISTEN:
			o.listen = optarg;
			break;
		case OPT_LOG_FORMAT:
			if (!strcmp(optarg, "json")) {
				log_set_format(LOG_FORMAT_JSON);
			} else if (strcmp(optarg, "text")) {
				log_usage("--log-format: '%s' is neither text nor json", optarg);
				err = -EINVAL;
			}
			break;
		case OPT_PIN_DIR:
			o.pin_dir = optarg;
			break;
		case OPT_NODE_NETNS:
			o.node_netns = optarg;
			break;
		case OPT_STATE_FILE:
			o.state_file = optarg;
			break;
		case OPT_XDP:
			o.xdp = true;
			break;
		case OPT_NO_BRIDGED:
			o.bridged = false;
			break;
		case OPT_ENFORCE_HOST:
			o.enforce_host = true;
			break;
		case OPT_BATCH_MS:
			err = opt_number("--batch-ms", optarg, 0, 10000, &v);
			o.batch_ms = (uint32_t)v;
			break;
		case OPT_WATCH_TIMEOUT:
			err = opt_number("--watch-timeout", optarg, 1, 3600, &v);
			o.reflector.watch_timeout_s = (uint32_t)v;
			break;
		case OPT_NO_STREAMING_LIST:
			o.reflector.no_streaming_list = true;
			break;
		case OPT_PAGE_SIZE:
			err = opt_number("--page-size", optarg, 1, 100000, &v);
			o.reflector.page_size = (uint32_t)v;
			break;
		case OPT_ONCE:
			o.once = true;
			break;
		case OPT_CNI_SOCKET:
			o.cni_socket = optarg;
			break;
		default:
			err = -EINVAL;
		}
	}
	if (!err)
		err = cli_no_operands(&p, argc, argv);
	if (err)
		return EXIT_USAGE;
	if (!o.node || !*o.node) {
		log_usage("no node name: give --node NAME or set NODE_NAME (the DaemonSet sets it "
			  "from spec.nodeName)");
		return EXIT_USAGE;
	}
	(void)self;
	/* An agent's log is what kubectl logs shows: one line per change by
	 * default, debug with -v. */
	if (log_get_level() < LOG_INFO)
		log_set_level(LOG_INFO);
	return agent_run(&o);
}
