"""A CONNECT-IP (RFC 9484) test client on aioquic, for interop tests against the relay.

Runs one Extended CONNECT, reads ADDRESS_ASSIGN, then (when the request succeeds) pings the
internet host and exchanges UDP echoes, all inside HTTP datagrams (context 0). Prints one JSON
line with what happened. Exit status 0 unless the client itself failed.

usage: connect_ip_client.py --relay HOST:PORT --ca CERT --target IP [--token T] [--pings N]
       [--udp-port P] [--echoes N] [--spoof] [--hold SECONDS]
"""

import argparse
import asyncio
import json
import ssl
import sys
import time

from aioquic.asyncio import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import DataReceived, DatagramReceived, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import ConnectionTerminated, QuicEvent

import capsule


class H3(H3Connection):
    """aioquic's HTTP/3 connection, advertising SETTINGS_H3_DATAGRAM (aioquic does so only for
    WebTransport; RFC 9297 requires it for HTTP datagrams) and noting a GOAWAY on the control
    stream (aioquic has no event for it)."""

    goaway_received = False

    def _get_local_settings(self):
        settings = super()._get_local_settings()
        settings[0x33] = 1  # SETTINGS_H3_DATAGRAM
        return settings

    def _handle_control_frame(self, frame_type, frame_data):
        if frame_type == 0x7:
            self.goaway_received = True
        return super()._handle_control_frame(frame_type, frame_data)


class Client(QuicConnectionProtocol):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.h3 = H3(self._quic)
        self.status = None
        self.headers_event = asyncio.Event()
        self.address_event = asyncio.Event()
        self.closed_event = asyncio.Event()
        self.addresses = []
        self.routes = 0
        self.parser = capsule.CapsuleParser()
        self.packets = asyncio.Queue()
        self.stream_id = None
        self.close_info = None
        self.goaway = False
        self.my_addr = None
        self.foreign = 0

    def quic_event_received(self, event: QuicEvent) -> None:
        if isinstance(event, ConnectionTerminated):
            self.close_info = {
                "error_code": event.error_code,
                "reason": event.reason_phrase,
                "frame_type": event.frame_type,
            }
            self.closed_event.set()
        for ev in self.h3.handle_event(event):
            if isinstance(ev, HeadersReceived) and ev.stream_id == self.stream_id:
                for k, v in ev.headers:
                    if k == b":status":
                        self.status = int(v)
                self.headers_event.set()
            elif isinstance(ev, DataReceived) and ev.stream_id == self.stream_id:
                for ctype, value in self.parser.feed(ev.data):
                    if ctype == capsule.ADDRESS_ASSIGN:
                        self.addresses = capsule.parse_address_assign(value)
                        self.address_event.set()
                    elif ctype == capsule.ROUTE_ADVERTISEMENT:
                        self.routes += 1
            elif isinstance(ev, DatagramReceived) and ev.stream_id == self.stream_id:
                ctx = capsule.decode_varint(ev.data, 0)
                if ctx is not None and ctx[0] == 0:
                    pkt = ev.data[ctx[1]:]
                    parsed = capsule.parse_ip(pkt)
                    if parsed is not None and parsed[1] != self.my_addr:
                        self.foreign += 1
                    self.packets.put_nowait(pkt)
        self.goaway = self.h3.goaway_received

    def open(self, authority: str, path: str, token):
        self.stream_id = self._quic.get_next_available_stream_id()
        headers = [
            (b":method", b"CONNECT"),
            (b":protocol", b"connect-ip"),
            (b":scheme", b"https"),
            (b":authority", authority.encode()),
            (b":path", path.encode()),
            (b"capsule-protocol", b"?1"),
        ]
        if token is not None:
            headers.append((b"authorization", b"Bearer " + token.encode()))
        self.h3.send_headers(self.stream_id, headers, end_stream=False)
        self.transmit()

    def send_packet(self, packet: bytes):
        self.h3.send_datagram(self.stream_id, capsule.encode_varint(0) + packet)
        self.transmit()


async def recv_matching(client, pred, timeout):
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        try:
            pkt = await asyncio.wait_for(client.packets.get(), left)
        except asyncio.TimeoutError:
            return None
        if pred(pkt):
            return pkt


async def flood(client, src, args):
    """Sends `--flood` UDP packets of `--size` bytes to `--flood-port` as fast as aioquic goes,
    then waits for echoes; prints a "flood-start" line first so that a bench can sample CPU."""
    print(json.dumps({"flood_start": True}), flush=True)
    while not client.packets.empty():
        client.packets.get_nowait()
    payload = b"x" * max(0, args.size - 28)
    pkt = capsule.udp(src, args.target, 41000, args.flood_port, payload)
    start = time.monotonic()
    for i in range(args.flood):
        client.h3.send_datagram(client.stream_id, b"\x00" + pkt)
        if i % 32 == 31:
            client.transmit()
            await asyncio.sleep(0)
    client.transmit()
    sent_for = time.monotonic() - start
    received = 0
    while True:
        try:
            await asyncio.wait_for(client.packets.get(), 1.0)
            received += 1
        except asyncio.TimeoutError:
            break
    return {"sent": args.flood, "received": received, "send_seconds": round(sent_for, 3)}


async def sink(client, src, args):
    """Opens a UDP flow to `--sink-port` with one packet (so that the relay's NAT lets replies
    in), says "sink_ready", then counts what arrives until 1.5 s pass without a packet."""
    while not client.packets.empty():
        client.packets.get_nowait()
    client.send_packet(capsule.udp(src, args.target, 42000, args.sink_port, b"open"))
    print(json.dumps({"sink_ready": True}), flush=True)
    received = 0
    first = True
    while True:
        try:
            await asyncio.wait_for(client.packets.get(), 10.0 if first else 1.5)
            received += 1
            first = False
        except asyncio.TimeoutError:
            return received


async def main(args):
    host, port = args.relay.rsplit(":", 1)
    host = host.strip("[]")  # an IPv6 literal as [addr]:port
    config = QuicConfiguration(
        is_client=True, alpn_protocols=H3_ALPN, max_datagram_frame_size=65536,
        server_name=args.server_name, idle_timeout=30,
    )
    config.load_verify_locations(args.ca)
    config.verify_mode = ssl.CERT_REQUIRED
    result = {"status": None}
    async with connect(host, int(port), configuration=config, create_protocol=Client,
                       wait_connected=True) as client:
        client.open(f"{args.server_name}:{port}", "/.well-known/masque/ip/*/*/", args.token)
        await asyncio.wait_for(client.headers_event.wait(), 10)
        result["status"] = client.status
        if client.status == 200:
            await asyncio.wait_for(client.address_event.wait(), 10)
            family = 6 if args.inet6 else 4
            mine = [a for _, a, _ in client.addresses if a.version == family]
            if not mine:
                raise RuntimeError(f"no IPv{family} address assigned: {client.addresses}")
            addr = str(mine[0])
            client.my_addr = addr
            result["address"] = addr
            result["routes"] = client.routes
        else:
            # A refused client tries anyway: nothing it sends may be relayed.
            addr = args.unassigned_source
        src = args.spoof_source if args.spoof else addr
        replies = 0
        v6 = args.inet6
        echo = capsule.icmp6_echo if v6 else capsule.icmp_echo
        reply_proto, reply_type = (58, b"\x81") if v6 else (1, b"\x00")
        make_udp = capsule.udp6 if v6 else capsule.udp
        for seq in range(1, args.pings + 1):
            client.send_packet(echo(src, args.target, 0x77, seq))
            pkt = await recv_matching(
                client,
                lambda p: (lambda q: q is not None and q[2] == reply_proto
                           and q[3][:1] == reply_type
                           and q[3][6:8] == seq.to_bytes(2, "big"))(capsule.parse_ip(p)),
                2.0,
            )
            replies += pkt is not None
        result["ping_replies"] = replies
        echoes = 0
        for i in range(args.echoes):
            data = f"echo-{i}-{addr}".encode()
            client.send_packet(make_udp(src, args.target, 40000 + i, args.udp_port, data))
            pkt = await recv_matching(
                client,
                lambda p: (lambda q: q is not None and q[2] == 17 and q[3][8:] == data)(
                    capsule.parse_ip(p)),
                2.0,
            )
            echoes += pkt is not None
        result["udp_echoes"] = echoes
        result["foreign_packets"] = client.foreign
        if args.flood > 0:
            result["flood"] = await flood(client, src, args)
        if args.sink_port > 0:
            result["sink_received"] = await sink(client, src, args)
        if args.hold > 0:
            print(json.dumps({"holding": True, **result}), flush=True)
            try:
                await asyncio.wait_for(client.closed_event.wait(), args.hold)
            except asyncio.TimeoutError:
                pass
            result["closed_by_relay"] = client.close_info
            result["goaway"] = client.goaway
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--relay", required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--server-name", default="relay.test")
    p.add_argument("--target", required=True)
    p.add_argument("--token")
    p.add_argument("--pings", type=int, default=3)
    p.add_argument("--udp-port", type=int, default=7007)
    p.add_argument("--echoes", type=int, default=3)
    p.add_argument("--spoof", action="store_true")
    p.add_argument("--spoof-source", default="10.99.0.250")
    p.add_argument("--unassigned-source", default="10.99.0.2")
    p.add_argument("--hold", type=float, default=0)
    p.add_argument("--flood", type=int, default=0)
    p.add_argument("--flood-port", type=int, default=7007)
    p.add_argument("--size", type=int, default=100)
    p.add_argument("--sink-port", type=int, default=0)
    p.add_argument("--inet6", action="store_true", help="tunnel IPv6 (target must be IPv6)")
    try:
        asyncio.run(main(p.parse_args()))
    except Exception as e:  # noqa: BLE001 - the test reads the JSON line
        print(json.dumps({"client_error": f"{type(e).__name__}: {e}"}), flush=True)
        sys.exit(2)
