/* SPDX-License-Identifier: Apache-2.0 */
/* The one JSON string escaper (user/util/json_out.c), which the CLI's JSON
 * output and npbpf-cni's result writer both use. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_out.h"

/* What f got, as a C string (freed by the caller). */
static char *written(void (*fn)(FILE *, const char *, size_t), const char *s, size_t len)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);

	cr_assert_not_null(f);
	fn(f, s, len);
	fclose(f);
	return buf;
}

static void whole(FILE *f, const char *s, size_t len)
{
	(void)len;
	out_json_string(f, s);
}

Test(json_out, escapes_quotes_backslashes_and_control_characters)
{
	const char in[] = "a\"b\\c\nd\re\tf\x01g\x1fh";
	char *got = written(out_json_string_n, in, strlen(in));

	cr_assert_str_eq(got, "\"a\\\"b\\\\c\\nd\\re\\tf\\u0001g\\u001fh\"");
	free(got);
	got = written(whole, in, 0);
	cr_assert_str_eq(got, "\"a\\\"b\\\\c\\nd\\re\\tf\\u0001g\\u001fh\"",
			 "the NUL-terminated form writes the same");
	free(got);
}

Test(json_out, length_form_writes_nuls_and_stops_at_len)
{
	const char in[] = { 'a', '\0', 'b', 'c' };
	char *got = written(out_json_string_n, in, 3);

	cr_assert_str_eq(got, "\"a\\u0000b\"");
	free(got);
}

Test(json_out, utf8_passes_through)
{
	const char in[] = "caf\xc3\xa9";
	char *got = written(out_json_string_n, in, strlen(in));

	cr_assert_str_eq(got, "\"caf\xc3\xa9\"");
	free(got);
}
