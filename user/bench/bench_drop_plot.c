/* SPDX-License-Identifier: Apache-2.0 */
#include "bench_drop_plot.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define ROW 18       /* px per bar */
#define LABEL_W 250  /* label column */
#define BAR_W 560    /* the longest bar */
#define WIDTH (LABEL_W + BAR_W + 110)

/* One colour per enforcer, so a reader finds npbpf in both charts. */
static const char *const colour[BD_N_ENF] = {
	"#9e9e9e", "#bdbdbd", "#d6d6d6", "#1f77b4", "#6baed6", "#ff7f0e", "#d62728",
};

static void bar(FILE *f, int y, const char *label, const struct bd_conf *c, double max)
{
	double w = max > 0 ? c->median / max * BAR_W : 0;
	double lo = max > 0 ? c->min / max * BAR_W : 0, hi = max > 0 ? c->max / max * BAR_W : 0;

	fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text>\n", LABEL_W - 8,
		y + ROW - 5, label);
	fprintf(f,
		"<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"><title>%s: "
		"%.2f Mpps (%.2f-%.2f)</title></rect>\n",
		LABEL_W, y + 2, w, ROW - 4, colour[c->enf], c->name, c->median, c->min, c->max);
	fprintf(f,
		"<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"#333\"/>\n",
		LABEL_W + lo, LABEL_W + hi, y + ROW / 2, y + ROW / 2);
	fprintf(f, "<text x=\"%.1f\" y=\"%d\">%.2f</text>\n", LABEL_W + (hi > w ? hi : w) + 6,
		y + ROW - 5, c->median);
}

static int heading(FILE *f, int y, const char *text)
{
	fprintf(f, "<text x=\"10\" y=\"%d\" font-weight=\"bold\">%s</text>\n", y + ROW - 4, text);
	return y + ROW + 4;
}

/* Chart 1: every configuration, grouped as in the table. */
static int by_configuration(FILE *f, const struct bd_ctx *x, int y, double max)
{
	const char *group = "";

	y = heading(f, y, "Mpps by configuration (bar: median, line: min-max over the rounds)");
	for (size_t i = 0; i < x->n_conf; i++) {
		const struct bd_conf *c = &x->conf[i];

		if (strcmp(group, c->group)) {
			group = c->group;
			fprintf(f, "<text x=\"20\" y=\"%d\" font-style=\"italic\">%s</text>\n",
				y + ROW - 5, group);
			y += ROW;
		}
		bar(f, y, c->name, c, max);
		y += ROW;
	}
	return y;
}

/* Chart 2: the denied flood by policy count, every enforcer measured at it. */
static int by_policies(FILE *f, const struct bd_ctx *x, int y, double max)
{
	y = heading(f, y + ROW, "Mpps of the denied flood by policy count");
	for (uint32_t s = 0; s < x->n_sets; s++) {
		fprintf(f, "<text x=\"20\" y=\"%d\" font-style=\"italic\">%u polic%s</text>\n",
			y + ROW - 5, x->pol[s].n, x->pol[s].n == 1 ? "y" : "ies");
		y += ROW;
		for (size_t i = 0; i < x->n_conf; i++) {
			const struct bd_conf *c = &x->conf[i];

			if (c->policies != x->pol[s].n || c->flow != BD_F_DENY || c->flows != 1 ||
			    c->cpus != 1 || c->snd != BD_SND_LIVE || c->enf <= BD_E_TC_PASS)
				continue;
			bar(f, y, bd_enf_names[c->enf], c, max);
			y += ROW;
		}
	}
	return y;
}

int bd_plot(const struct bd_ctx *x, const char *path)
{
	char *body = NULL;
	size_t len = 0;
	double max = 0;
	FILE *f;
	int y, err = 0;

	for (size_t i = 0; i < x->n_conf; i++)
		max = x->conf[i].max > max ? x->conf[i].max : max;
	/* The charts first, in memory: the height is known at their end. */
	f = open_memstream(&body, &len);
	if (!f)
		return -ENOMEM;
	fprintf(f, "<text x=\"10\" y=\"20\" font-size=\"15\">npbpf bench drop: 60-byte UDP flood "
		   "from a pod into its host veth, %u rounds</text>\n",
		x->rounds);
	y = by_configuration(f, x, 30, max);
	y = by_policies(f, x, y, max);
	if (fclose(f)) {
		free(body);
		return -ENOMEM;
	}
	f = fopen(path, "w");
	if (!f) {
		err = -errno;
		log_error("%s: %s", path, strerror(-err));
		free(body);
		return err;
	}
	fprintf(f,
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
		"font-family=\"sans-serif\" font-size=\"12\">\n"
		"<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n%s</svg>\n",
		WIDTH, y + 10, body);
	free(body);
	if (fclose(f)) {
		err = -errno;
		log_error("%s: %s", path, strerror(-err));
	}
	return err;
}
