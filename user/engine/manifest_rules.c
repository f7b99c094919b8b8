/* SPDX-License-Identifier: Apache-2.0 */
/* The API server's rules for names, labels and port names (manifest_rules.h). */
#include "manifest_rules.h"

#include <stdbool.h>
#include <string.h>

static bool mf_lower_alnum(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
}

static bool mf_alnum(char ch)
{
	return mf_lower_alnum(ch) || (ch >= 'A' && ch <= 'Z');
}

/* The reason s is not valid, or NULL. */
const char *mf_check_dns_label(const char *s, size_t len)
{
	size_t i;

	if (!len || len > 63)
		return MF_DNS_LABEL_HINT;
	for (i = 0; i < len; i++) {
		if (!mf_lower_alnum(s[i]) && (s[i] != '-' || !i || i == len - 1))
			return MF_DNS_LABEL_HINT;
	}
	return NULL;
}

const char *mf_check_dns_subdomain(const char *s, size_t len)
{
	size_t i;

	if (!len || len > 253)
		return MF_DNS_SUBDOMAIN_HINT;
	for (i = 0; i < len; i++) {
		bool edge = !i || i == len - 1 || s[i - 1] == '.' || s[i + 1] == '.';

		if (!mf_lower_alnum(s[i]) && ((s[i] != '-' && s[i] != '.') || edge))
			return MF_DNS_SUBDOMAIN_HINT;
	}
	return NULL;
}

/* The name part of a label key, and every non-empty label value. */
const char *mf_check_label_name(const char *s, size_t len)
{
	size_t i;

	if (!len || len > 63)
		return MF_LABEL_NAME_HINT;
	for (i = 0; i < len; i++) {
		bool inner = i && i != len - 1;

		if (!mf_alnum(s[i]) && (!inner || !strchr("-_.", s[i]) || !s[i]))
			return MF_LABEL_NAME_HINT;
	}
	return NULL;
}

/* A qualified name: [DNS-subdomain prefix '/'] name. */
const char *mf_check_label_key(const char *s, size_t len)
{
	const char *slash = memchr(s, '/', len);
	size_t plen;

	if (!slash)
		return mf_check_label_name(s, len);
	plen = (size_t)(slash - s);
	if (mf_check_dns_subdomain(s, plen))
		return "the prefix before '/' " MF_DNS_SUBDOMAIN_HINT;
	if (mf_check_label_name(slash + 1, len - plen - 1))
		return "the name after '/' " MF_LABEL_NAME_HINT;
	return NULL;
}

const char *mf_check_label_value(const char *s, size_t len)
{
	return len ? mf_check_label_name(s, len) : NULL;
}

/* IANA_SVC_NAME, what a named port must be. */
const char *mf_check_port_name(const char *s, size_t len)
{
	bool letter = false;
	size_t i;

	if (!len || len > 15)
		return "must be 1 to 15 characters";
	for (i = 0; i < len; i++) {
		if (!mf_lower_alnum(s[i]) && s[i] != '-')
			return "must contain only a-z, 0-9 and '-'";
		if (s[i] == '-' && (!i || i == len - 1 || s[i + 1] == '-'))
			return "must not begin or end with '-' nor contain \"--\"";
		letter |= s[i] >= 'a' && s[i] <= 'z';
	}
	return letter ? NULL : "must contain at least one letter (a number must not be quoted)";
}
