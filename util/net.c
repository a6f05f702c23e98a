/*
 * net.c - which network addresses count as private, for the webhook
 * sender's SSRF defence.
 *
 * A webhook URL is supplied by an admin but fetched by the server, from
 * inside its network: without a check it is a way to reach the loopback
 * interface, a cloud metadata service (169.254.169.254) or anything on the
 * LAN.  The decision is made on socket addresses, never on host names,
 * because only the address actually connected to is meaningful: a name can
 * resolve to a public address when the URL is registered and to a private
 * one at delivery (DNS rebinding).  The same function therefore serves the
 * check when a URL is registered (every resolved address) and the check in
 * libcurl's open-socket callback at each delivery.  The lists are
 * deliberately wide (reserved and multicast ranges, IPv6 forms that embed an
 * IPv4 address) and fail closed: an address family we do not know is
 * private.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include "util.h"

/* a (host order) inside net/len? */
static bool in4(uint32_t a, uint32_t net, int len) { return len == 0 || (a >> (32 - len)) == (net >> (32 - len)); }

static bool v4_private(uint32_t a)
{
	return in4(a, 0x00000000u, 8) ||   /* 0.0.0.0/8 "this network", unspecified */
	       in4(a, 0x0a000000u, 8) ||   /* 10/8 RFC 1918 */
	       in4(a, 0x64400000u, 10) ||  /* 100.64/10 carrier-grade NAT */
	       in4(a, 0x7f000000u, 8) ||   /* 127/8 loopback */
	       in4(a, 0xa9fe0000u, 16) ||  /* 169.254/16 link-local, cloud metadata */
	       in4(a, 0xac100000u, 12) ||  /* 172.16/12 RFC 1918 */
	       in4(a, 0xc0000000u, 24) ||  /* 192.0.0/24 IETF protocol assignments */
	       in4(a, 0xc0a80000u, 16) ||  /* 192.168/16 RFC 1918 */
	       in4(a, 0xc6120000u, 15) ||  /* 198.18/15 benchmarking, never routed */
	       in4(a, 0xe0000000u, 4) ||   /* 224/4 multicast */
	       in4(a, 0xf0000000u, 4);     /* 240/4 reserved, incl. 255.255.255.255 broadcast */
}

static uint32_t be32_at(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static bool v6_private(const unsigned char *b)
{
	static const unsigned char zero[12];
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	static const unsigned char nat64[12] = {0x00, 0x64, 0xff, 0x9b};
	/* ::/96 holds ::, ::1 and the deprecated IPv4-compatible form: none is
	 * a public destination */
	if (!memcmp(b, zero, 12))
		return true;
	if (!memcmp(b, mapped, 12) || !memcmp(b, nat64, 12)) /* ::ffff:a.b.c.d, 64:ff9b::a.b.c.d */
		return v4_private(be32_at(b + 12));
	if (b[0] == 0x20 && b[1] == 0x02) /* 6to4: 2002:AABB:CCDD::/48 */
		return v4_private(be32_at(b + 2));
	return (b[0] & 0xfe) == 0xfc ||                /* fc00::/7 unique-local */
	       (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) || /* fe80::/10 link-local */
	       (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) || /* fec0::/10 site-local (deprecated) */
	       b[0] == 0xff;                            /* ff00::/8 multicast */
}

bool util_addr_is_private(const struct sockaddr *sa)
{
	if (!sa)
		return true;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
		return v4_private(ntohl(a->sin_addr.s_addr));
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
		return v6_private(a->sin6_addr.s6_addr);
	}
	return true;
}

void util_addr_format(const struct sockaddr *sa, char *out, size_t outsz)
{
	const void *p = NULL;
	if (!outsz)
		return;
	if (sa && sa->sa_family == AF_INET)
		p = &((const struct sockaddr_in *)sa)->sin_addr;
	else if (sa && sa->sa_family == AF_INET6)
		p = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	if (!p || !inet_ntop(sa->sa_family, p, out, (socklen_t)outsz))
		snprintf(out, outsz, "?");
}
