"""Our CONNECT-IP glue for aioquic: QUIC varints, RFC 9297 capsules, the RFC 9484 address
capsules, and IPv4 packets (ICMP echo, UDP) with checksums. aioquic brings QUIC and HTTP/3."""

import ipaddress
import struct

ADDRESS_ASSIGN = 0x01
ADDRESS_REQUEST = 0x02
ROUTE_ADVERTISEMENT = 0x03


def encode_varint(v: int) -> bytes:
    if v < 0x40:
        return bytes([v])
    if v < 0x4000:
        return struct.pack("!H", 0x4000 | v)
    if v < 0x40000000:
        return struct.pack("!I", 0x80000000 | v)
    return struct.pack("!Q", 0xC000000000000000 | v)


def decode_varint(buf: bytes, pos: int):
    """Returns (value, new_pos) or None when buf ends inside the varint."""
    if pos >= len(buf):
        return None
    first = buf[pos]
    length = 1 << (first >> 6)
    if pos + length > len(buf):
        return None
    v = first & 0x3F
    for b in buf[pos + 1 : pos + length]:
        v = (v << 8) | b
    return v, pos + length


class CapsuleParser:
    """Feeds stream bytes, yields (type, value) capsules as they complete."""

    def __init__(self):
        self.buf = b""

    def feed(self, data: bytes):
        self.buf += data
        out = []
        while True:
            t = decode_varint(self.buf, 0)
            if t is None:
                break
            ctype, pos = t
            ln = decode_varint(self.buf, pos)
            if ln is None:
                break
            length, pos = ln
            if pos + length > len(self.buf):
                break
            out.append((ctype, self.buf[pos : pos + length]))
            self.buf = self.buf[pos + length :]
        return out


def parse_address_assign(value: bytes):
    """[(request_id, ip_address, prefix_len)]"""
    out, pos = [], 0
    while pos < len(value):
        rid, pos = decode_varint(value, pos)
        version = value[pos]
        pos += 1
        n = 4 if version == 4 else 16
        addr = ipaddress.ip_address(value[pos : pos + n])
        pos += n
        plen = value[pos]
        pos += 1
        out.append((rid, addr, plen))
    return out


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ipv4(src: str, dst: str, proto: int, payload: bytes, ident: int = 1) -> bytes:
    total = 20 + len(payload)
    hdr = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, total, ident, 0x4000, 64, proto, 0,
        ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed,
    )
    hdr = hdr[:10] + struct.pack("!H", checksum(hdr)) + hdr[12:]
    return hdr + payload


def icmp_echo(src: str, dst: str, ident: int, seq: int, data: bytes = b"oxidize-interop") -> bytes:
    msg = struct.pack("!BBHHH", 8, 0, 0, ident, seq) + data
    msg = msg[:2] + struct.pack("!H", checksum(msg)) + msg[4:]
    return ipv4(src, dst, 1, msg, ident=seq)


def udp(src: str, dst: str, sport: int, dport: int, data: bytes) -> bytes:
    length = 8 + len(data)
    pseudo = (
        ipaddress.IPv4Address(src).packed + ipaddress.IPv4Address(dst).packed
        + struct.pack("!BBH", 0, 17, length)
    )
    seg = struct.pack("!HHHH", sport, dport, length, 0) + data
    c = checksum(pseudo + seg) or 0xFFFF
    seg = seg[:6] + struct.pack("!H", c) + seg[8:]
    return ipv4(src, dst, 17, seg)


def ipv6(src: str, dst: str, next_header: int, payload: bytes) -> bytes:
    return (
        struct.pack("!IHBB", 6 << 28, len(payload), next_header, 64)
        + ipaddress.IPv6Address(src).packed + ipaddress.IPv6Address(dst).packed + payload
    )


def _pseudo6(src: str, dst: str, length: int, next_header: int) -> bytes:
    return (
        ipaddress.IPv6Address(src).packed + ipaddress.IPv6Address(dst).packed
        + struct.pack("!IxxxB", length, next_header)
    )


def icmp6_echo(src: str, dst: str, ident: int, seq: int, data: bytes = b"oxidize-interop") -> bytes:
    msg = struct.pack("!BBHHH", 128, 0, 0, ident, seq) + data
    c = checksum(_pseudo6(src, dst, len(msg), 58) + msg)
    msg = msg[:2] + struct.pack("!H", c) + msg[4:]
    return ipv6(src, dst, 58, msg)


def udp6(src: str, dst: str, sport: int, dport: int, data: bytes) -> bytes:
    length = 8 + len(data)
    seg = struct.pack("!HHHH", sport, dport, length, 0) + data
    c = checksum(_pseudo6(src, dst, length, 17) + seg) or 0xFFFF
    seg = seg[:6] + struct.pack("!H", c) + seg[8:]
    return ipv6(src, dst, 17, seg)


def parse_ip(packet: bytes):
    """(src, dst, proto, l4 bytes) for IPv4 or IPv6 (no extension headers), or None."""
    if len(packet) >= 40 and packet[0] >> 4 == 6:
        plen = struct.unpack("!H", packet[4:6])[0]
        return (
            str(ipaddress.IPv6Address(packet[8:24])),
            str(ipaddress.IPv6Address(packet[24:40])),
            packet[6],
            packet[40 : 40 + plen],
        )
    return parse_ipv4(packet)


def parse_ipv4(packet: bytes):
    """(src, dst, proto, l4 bytes) or None."""
    if len(packet) < 20 or packet[0] >> 4 != 4:
        return None
    ihl = (packet[0] & 0x0F) * 4
    total = struct.unpack("!H", packet[2:4])[0]
    return (
        str(ipaddress.IPv4Address(packet[12:16])),
        str(ipaddress.IPv4Address(packet[16:20])),
        packet[9],
        packet[ihl:total],
    )
