/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for the streaming JSON parser (json_stream.h): the
 * input, after a first byte choosing LIST or WATCH, is fed three ways: at
 * once, in chunks whose sizes the input's own bytes choose, and a byte at a
 * time. Besides crashes, leaks and undefined behaviour, it checks that the
 * chunking changes nothing: a byte at a time never lets js_feed skim
 * managedFields (its key is never whole in one chunk), so when that pure
 * yajl parse succeeds the others must too, with the same objects. (The
 * skim checks brackets only, so on input yajl refuses it may succeed.)
 * Every object also goes through manifest_decode. Built only with
 * -Dfuzz=true (clang); see fuzz/README.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_stream.h"
#include "manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One chunk of at most this is fed a byte at a time: it is slow. */
#define FUZZ_MAX_BYTEWISE 8192

struct out {
	FILE *f;
	char *text;
	size_t len;
	bool decode;
};

static void render(FILE *f, const struct yt_node *n)
{
	uint32_t i;

	switch (n->kind) {
	case YT_SCALAR:
		fprintf(f, "%c%u:", n->quoted ? 's' : 'p', n->len);
		fwrite(n->str, 1, n->len, f);
		if (n->str[n->len] != '\0')
			abort();
		break;
	case YT_SEQ:
	case YT_MAP:
		fprintf(f, "%c%u[", n->kind == YT_MAP ? 'm' : 'q', n->n);
		for (i = 0; i < n->n; i++)
			render(f, n->items[i]);
		fputc(']', f);
		break;
	default:
		abort();
	}
}

static int on_object(const char *type, const struct yt_node *obj, void *arg)
{
	struct out *o = arg;
	struct manifest_object mo;

	if (obj->kind != YT_MAP)
		abort();
	fprintf(o->f, "%s ", type ? type : "-");
	render(o->f, obj);
	fputc('\n', o->f);
	if (o->decode && manifest_decode(obj, "fuzz", &mo) == 1)
		manifest_object_free(&mo);
	return 0;
}

/* Feeds data in chunks: sizes from sizes[] in turn (0: all at once). */
static int parse(enum js_mode mode, const uint8_t *data, size_t size, const uint8_t *sizes,
		 size_t n_sizes, size_t fixed, struct out *o)
{
	struct json_stream *s;
	size_t off = 0, k = 0;
	int ret = 0;

	o->f = open_memstream(&o->text, &o->len);
	if (!o->f)
		abort();
	if (js_new(mode, "fuzz", on_object, o, &s))
		abort();
	while (!ret && off < size) {
		size_t n = fixed ? fixed : n_sizes ? 1 + sizes[k++ % n_sizes] * 16 : size;

		n = n < size - off ? n : size - off;
		ret = js_feed(s, data + off, n);
		off += n;
	}
	if (!ret)
		ret = js_finish(s);
	if (ret && !js_error(s)[0])
		abort(); /* every error is explained */
	js_free(s);
	fclose(o->f);
	return ret;
}

static void same(const struct out *a, const struct out *b)
{
	if (a->len != b->len || memcmp(a->text, b->text, a->len))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct out whole = {.decode = true}, chunked = {0}, bytewise = {0};
	enum js_mode mode;
	int r_whole, r_chunked, r_bytewise = -1;

	if (!size)
		return 0;
	mode = data[0] & 1 ? JS_WATCH : JS_LIST;
	data++;
	size--;
	r_whole = parse(mode, data, size, NULL, 0, 0, &whole);
	/* the chunk sizes come from the input's second half */
	r_chunked = parse(mode, data, size, data + size / 2, size - size / 2, 0, &chunked);
	if (size <= FUZZ_MAX_BYTEWISE)
		r_bytewise = parse(mode, data, size, NULL, 0, 1, &bytewise);
	if (!r_whole && !r_chunked)
		same(&whole, &chunked);
	if (!r_bytewise) {
		if (r_whole || r_chunked)
			abort();
		same(&whole, &bytewise);
	}
	free(whole.text);
	free(chunked.text);
	free(bytewise.text);
	return 0;
}
