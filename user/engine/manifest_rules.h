/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The API server's validation rules for names, as
 * k8s.io/apimachinery/pkg/util/validation checks them: each returns why s
 * (len bytes) is not valid, or NULL. Pure: no reader, no message.
 */
#ifndef NPBPF_MANIFEST_RULES_H
#define NPBPF_MANIFEST_RULES_H

#include <stddef.h>

#define MF_DNS_LABEL_HINT                                                                          \
	"must be a lowercase RFC 1123 label of at most 63 characters: a-z, 0-9 and '-', "          \
	"starting and ending with a letter or digit"
#define MF_DNS_SUBDOMAIN_HINT                                                                      \
	"must be a lowercase RFC 1123 subdomain of at most 253 characters: a-z, 0-9, '-' "         \
	"and '.', each dot-separated part starting and ending with a letter or digit"
#define MF_LABEL_NAME_HINT                                                                         \
	"must be at most 63 characters of A-Z, a-z, 0-9, '-', '_' and '.', starting and ending "   \
	"with a letter or digit"

/* A namespace (RFC 1123 label). */
const char *mf_check_dns_label(const char *s, size_t len);
/* Object and node names (RFC 1123 subdomain). */
const char *mf_check_dns_subdomain(const char *s, size_t len);
/* The name part of a label key, and every non-empty label value. */
const char *mf_check_label_name(const char *s, size_t len);
/* A qualified name: [DNS-subdomain prefix '/'] name. */
const char *mf_check_label_key(const char *s, size_t len);
const char *mf_check_label_value(const char *s, size_t len);
/* IANA_SVC_NAME, what a named port must be. */
const char *mf_check_port_name(const char *s, size_t len);

#endif /* NPBPF_MANIFEST_RULES_H */
