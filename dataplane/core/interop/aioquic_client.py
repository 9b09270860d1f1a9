"""A CONNECT-IP client on aioquic (an independent QUIC + HTTP/3 stack) for the loopback relay.

Usage: aioquic_client.py TOKEN|- [port]. Prints the status, the capsules, the assigned address,
then sends one IPv4/UDP packet and one with a spoofed source, and prints the echo that comes back.
The capsule glue is written here (aioquic has none). Exits non-zero when an expected answer
does not come within 5 s.
"""
import asyncio, ssl, struct, sys
from aioquic.asyncio import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.quic.configuration import QuicConfiguration
from aioquic.h3.connection import H3Connection
from aioquic.h3.events import HeadersReceived, DataReceived, DatagramReceived
from aioquic.buffer import Buffer

TOKEN = sys.argv[1] if len(sys.argv) > 1 else "secret"
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 4433

def varint(v):
    b = Buffer(capacity=8); b.push_uint_var(v); return b.data

def parse_capsules(data):
    b = Buffer(data=data); out = []
    while not b.eof():
        t = b.pull_uint_var(); l = b.pull_uint_var(); out.append((t, b.pull_bytes(l)))
    return out

class P(QuicConnectionProtocol):
    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.h3 = H3Connection(self._quic, enable_webtransport=True)
        self.events = asyncio.Queue()
    def quic_event_received(self, ev):
        for e in self.h3.handle_event(ev):
            self.events.put_nowait(e)

async def main():
    cfg = QuicConfiguration(is_client=True, alpn_protocols=["h3"], max_datagram_frame_size=65536, verify_mode=ssl.CERT_NONE, server_name="localhost")
    async with connect("127.0.0.1", PORT, configuration=cfg, create_protocol=P) as p:
        sid = p._quic.get_next_available_stream_id()
        hdrs = [(b":method", b"CONNECT"), (b":protocol", b"connect-ip"), (b":scheme", b"https"),
                (b":authority", b"localhost"), (b":path", b"/.well-known/masque/ip/*/*/"),
                (b"capsule-protocol", b"?1")]
        if TOKEN != "-":
            hdrs.append((b"authorization", b"Bearer " + TOKEN.encode()))
        p.h3.send_headers(sid, hdrs)
        # ADDRESS_REQUEST: request id 1, IPv4 0.0.0.0/32
        req = varint(1) + bytes([4, 0, 0, 0, 0, 32])
        p.h3.send_data(sid, varint(2) + varint(len(req)) + req, end_stream=False)
        p.transmit()
        addr = None
        async def next_ev():
            return await asyncio.wait_for(p.events.get(), 5)
        while addr is None:
            e = await next_ev()
            if isinstance(e, HeadersReceived):
                print("status", dict(e.headers).get(b":status"))
                if dict(e.headers).get(b":status") != b"200":
                    return
            elif isinstance(e, DataReceived):
                for t, v in parse_capsules(e.data):
                    print("capsule", hex(t), v.hex())
                    if t == 1:  # ADDRESS_ASSIGN: request id, version, address, prefix length
                        b = Buffer(data=v); b.pull_uint_var()
                        if b.pull_uint8() == 4:
                            addr = b.pull_bytes(4)
        print("assigned", ".".join(map(str, addr)))
        payload = b"hello relay"
        udp = struct.pack("!HHHH", 12345, 7, 8 + len(payload), 0) + payload
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0, addr, bytes([203, 0, 113, 9])) + udp
        p.h3.send_datagram(sid, varint(0) + ip)
        spoof = ip[:12] + bytes([10, 66, 0, 99]) + ip[16:]
        p.h3.send_datagram(sid, varint(0) + spoof)
        p.transmit()
        while True:
            e = await next_ev()
            if isinstance(e, DatagramReceived):
                b = Buffer(data=e.data); ctx = b.pull_uint_var(); pkt = e.data[b.tell():]
                print("datagram ctx", ctx, "src", ".".join(map(str, pkt[12:16])), "payload", pkt[28:])
                break
            elif isinstance(e, DataReceived):
                for t, v in parse_capsules(e.data):
                    print("capsule", hex(t), v.hex())

asyncio.run(main())
