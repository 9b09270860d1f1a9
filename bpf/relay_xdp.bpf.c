// SPDX-License-Identifier: (Apache-2.0 OR GPL-2.0)
/*
 * Oxidize relay XDP program.
 *
 * UDP packets to one of the relay's ports go to the AF_XDP socket of the RX queue they arrived on
 * (XSKMAP slot = rx_queue_index). Everything else is XDP_PASS, so SSH, kubelet and the CNI keep
 * working on the same NIC. If the queue's slot is empty the packet is passed, never dropped.
 *
 * Parsed: Ethernet, at most one VLAN tag (802.1Q / 802.1ad), IPv4 with any IHL (fragments pass),
 * IPv6 with hop-by-hop / routing / destination-options extension headers (up to MAX_EXT_HDRS; a
 * fragment header or anything else it cannot walk passes), UDP.
 *
 * No CO-RE: this program reads only packet memory and its own maps, so it needs no kernel BTF.
 * The same decision is mirrored in Rust by `oxidize_xdp::classify` and tested against this file.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define MAX_QUEUES 256
#define MAX_PORTS 16
#define MAX_EXT_HDRS 4

/* Counter slots; keep in sync with `oxidize_xdp::stats::XdpCounter`. */
enum counter {
	CNT_REDIRECTED = 0,     /* handed to XSKMAP[rx_queue] */
	CNT_PASS_NOT_IP = 1,    /* not IPv4/IPv6 (ARP, LLDP, ...) */
	CNT_PASS_NOT_UDP = 2,   /* IP but not UDP (TCP, ICMP, ...) */
	CNT_PASS_OTHER_PORT = 3,/* UDP to a port that is not the relay's */
	CNT_PASS_FRAGMENT = 4,  /* IPv4 fragment or IPv6 fragment header */
	CNT_PASS_IPV6_EXT = 5,  /* IPv6 extension header it cannot walk */
	CNT_PASS_NO_SOCKET = 6, /* relay port but no socket in the queue's slot */
	CNT_ERR_MALFORMED = 7,  /* truncated or invalid headers (passed) */
	CNT_MAX = 8,
};

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} xsks_map SEC(".maps");

/* Relay UDP ports, host byte order, value 1 = enabled. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_PORTS);
	__type(key, __u16);
	__type(value, __u8);
} relay_ports SEC(".maps");

/* Totals per CPU: key = counter. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* Per RX queue (per CPU): key = queue * CNT_MAX + counter; queues beyond MAX_QUEUES - 1 share
 * the last row. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_QUEUES * CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} queue_counters SEC(".maps");

static __always_inline int count_queue(struct xdp_md *ctx, __u32 slot, int verdict)
{
	__u32 queue = ctx->rx_queue_index;
	__u32 key;
	__u64 *value = bpf_map_lookup_elem(&counters, &slot);

	if (value)
		*value += 1;
	if (queue >= MAX_QUEUES)
		queue = MAX_QUEUES - 1;
	key = queue * CNT_MAX + slot;
	value = bpf_map_lookup_elem(&queue_counters, &key);
	if (value)
		*value += 1;
	return verdict;
}

#define count(slot, verdict) count_queue(ctx, (slot), (verdict))

/* VLAN header (not in the uapi headers). */
struct vlan_hdr {
	__be16 tci;
	__be16 proto;
};

/* IPv6 extension header prefix shared by hop-by-hop, routing and destination options. */
struct ext_hdr {
	__u8 next;
	__u8 len; /* in 8-octet units, not counting the first 8 */
};

SEC("xdp")
int relay_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	void *cursor;
	__u16 proto;
	__u8 l4;

	if ((void *)(eth + 1) > data_end)
		return count(CNT_ERR_MALFORMED, XDP_PASS);
	proto = eth->h_proto;
	cursor = eth + 1;

	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
		struct vlan_hdr *vlan = cursor;

		if ((void *)(vlan + 1) > data_end)
			return count(CNT_ERR_MALFORMED, XDP_PASS);
		proto = vlan->proto;
		cursor = vlan + 1;
	}

	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = cursor;
		__u32 ihl;

		if ((void *)(ip + 1) > data_end)
			return count(CNT_ERR_MALFORMED, XDP_PASS);
		ihl = ip->ihl * 4;
		if (ip->version != 4 || ihl < sizeof(*ip))
			return count(CNT_ERR_MALFORMED, XDP_PASS);
		/* More-fragments flag or a non-zero offset: let the kernel reassemble. */
		if (ip->frag_off & bpf_htons(0x3fff))
			return count(CNT_PASS_FRAGMENT, XDP_PASS);
		if (ip->protocol != IPPROTO_UDP)
			return count(CNT_PASS_NOT_UDP, XDP_PASS);
		cursor = (void *)ip + ihl;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = cursor;
		int i;

		if ((void *)(ip6 + 1) > data_end)
			return count(CNT_ERR_MALFORMED, XDP_PASS);
		if (ip6->version != 6)
			return count(CNT_ERR_MALFORMED, XDP_PASS);
		l4 = ip6->nexthdr;
		cursor = ip6 + 1;
#pragma unroll
		for (i = 0; i < MAX_EXT_HDRS; i++) {
			struct ext_hdr *ext = cursor;

			if (l4 != IPPROTO_HOPOPTS && l4 != IPPROTO_ROUTING && l4 != IPPROTO_DSTOPTS)
				break;
			if ((void *)(ext + 1) > data_end)
				return count(CNT_ERR_MALFORMED, XDP_PASS);
			l4 = ext->next;
			cursor = (void *)ext + (ext->len + 1) * 8;
		}
		if (l4 == IPPROTO_FRAGMENT)
			return count(CNT_PASS_FRAGMENT, XDP_PASS);
		if (l4 == IPPROTO_HOPOPTS || l4 == IPPROTO_ROUTING || l4 == IPPROTO_DSTOPTS ||
		    l4 == IPPROTO_AH || l4 == IPPROTO_ESP || l4 == 59 /* no next header */ ||
		    l4 == 135 /* mobility */ || l4 == 139 /* HIP */ || l4 == 140 /* shim6 */)
			return count(CNT_PASS_IPV6_EXT, XDP_PASS);
		if (l4 != IPPROTO_UDP)
			return count(CNT_PASS_NOT_UDP, XDP_PASS);
	} else {
		return count(CNT_PASS_NOT_IP, XDP_PASS);
	}

	{
		struct udphdr *udp = cursor;
		__u16 port;
		__u32 queue = ctx->rx_queue_index;

		if ((void *)(udp + 1) > data_end)
			return count(CNT_ERR_MALFORMED, XDP_PASS);
		port = bpf_ntohs(udp->dest);
		if (!bpf_map_lookup_elem(&relay_ports, &port))
			return count(CNT_PASS_OTHER_PORT, XDP_PASS);
		/* The low bits of the flags are the action when the slot is empty. */
		if (bpf_redirect_map(&xsks_map, queue, XDP_PASS) == XDP_REDIRECT)
			return count(CNT_REDIRECTED, XDP_REDIRECT);
		return count(CNT_PASS_NO_SOCKET, XDP_PASS);
	}
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
