#!/usr/bin/env python3
"""Writes the netlink and nftables seed corpora: the kernel's own replies to the dumps ovl sends,
captured in a throwaway network namespace (run by capture_seeds.sh, which sets it up). One file
per message, named by kind and number. Run again only to refresh the committed seeds."""
import os
import socket
import struct
import sys

NLM_F_REQUEST, NLM_F_DUMP = 1, 0x300
NLMSG_DONE, NLMSG_ERROR = 3, 2


def dump(proto, msg_type, body, limit):
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, proto)
    s.bind((0, 0))
    hdr = struct.pack("=IHHII", 16 + len(body), msg_type, NLM_F_REQUEST | NLM_F_DUMP, 1, 0)
    s.send(hdr + body)
    out = []
    while True:
        data = s.recv(65536)
        off = 0
        while off + 16 <= len(data):
            length, typ = struct.unpack_from("=IH", data, off)
            if typ in (NLMSG_DONE, NLMSG_ERROR):
                s.close()
                return out[:limit]
            out.append(data[off:off + length])
            off += (length + 3) & ~3


def save(directory, prefix, msgs):
    os.makedirs(directory, exist_ok=True)
    for i, m in enumerate(msgs):
        with open(os.path.join(directory, f"{prefix}-{i}"), "wb") as f:
            f.write(m)


def main(out):
    rt = socket.NETLINK_ROUTE
    ifinfo = struct.pack("=BxHiII", 0, 0, 0, 0, 0)
    save(f"{out}/netlink", "link", dump(rt, 18, ifinfo, 8))                  # RTM_GETLINK
    save(f"{out}/netlink", "bridge-port", dump(rt, 18, struct.pack("=BxHiII", 7, 0, 0, 0, 0), 4))
    save(f"{out}/netlink", "addr", dump(rt, 22, struct.pack("=BBBBi", 2, 0, 0, 0, 0), 4))
    save(f"{out}/netlink", "route", dump(rt, 26, struct.pack("=BBBBBBBBI", 2, 0, 0, 0, 0, 0, 0, 0, 0), 6))
    save(f"{out}/netlink", "neigh", dump(rt, 30, struct.pack("=BxxxiHBB", 2, 0, 0, 0, 0), 4))
    save(f"{out}/netlink", "fdb", dump(rt, 30, struct.pack("=BxxxiHBB", 7, 0, 0, 0, 0), 4))
    nf = 12  # NETLINK_NETFILTER
    nfgen = struct.pack("=BBH", 2, 0, 0)  # family ip, version 0, res_id 0
    subsys = 10 << 8  # NFNL_SUBSYS_NFTABLES
    save(f"{out}/nftables", "chain", dump(nf, subsys | 4, nfgen, 6))     # NFT_MSG_GETCHAIN
    save(f"{out}/nftables", "rule", dump(nf, subsys | 7, nfgen, 6))      # NFT_MSG_GETRULE
    save(f"{out}/nftables", "set", dump(nf, subsys | 10, nfgen, 6))      # NFT_MSG_GETSET
    for name in ("services", "endpoints", "hairpin", "nodeports"):
        table = b"ovl\0"
        attrs = struct.pack("=HH", 4 + len(table), 1) + table + b"\0" * (-len(table) % 4)
        setname = name.encode() + b"\0"
        attrs += struct.pack("=HH", 4 + len(setname), 2) + setname + b"\0" * (-len(setname) % 4)
        save(f"{out}/nftables", f"elements-{name}", dump(nf, subsys | 13, nfgen + attrs, 2))


if __name__ == "__main__":
    main(sys.argv[1])
