"""Wire frames made in Python for the reliability, abuse and wire tests:
synthetic REPORTs with a chosen set of vmlinux PCs (each report can carry
PCs no other report has, so a lost report shows as missing coverage) and
ADDRMAPs for emulated boots of the stand-in kernel. Reports are v1 unless
version=2 is asked for. docs/wire-format.md is the reference; kcovd's decoder validates every frame these functions make.
"""
import os
import struct
import time
import zlib

LINK_TEXT = 0xFFFFFFFF81000000
TEXT_SIZE = 0x2000000          # the stand-in kernel's _etext - _text
WINDOW = 0xFFFFFFFF00000000    # the 4 GiB region holding kernel PCs


def _str(s):
    b = s.encode()
    return struct.pack("<I", len(b)) + b


def frame(kind, payload, version=1):
    return (b"KCOV" + struct.pack("<HHII", version, kind, len(payload), zlib.crc32(payload))
            + zlib.compress(payload))


def varint(v):
    out = bytearray()
    while True:
        out.append((v & 0x7F) | (0x80 if v > 0x7F else 0))
        v >>= 7
        if not v:
            return bytes(out)


def deltas(values):
    """A v2 region body of sorted 32-bit values: count, length, varints of
    the first value and of each following delta."""
    body = b"".join(varint(v - (values[i - 1] if i else 0)) for i, v in enumerate(values))
    return struct.pack("<II", len(values), len(body)) + body


def roaring_portable(values):
    """CRoaring portable serialization of sorted 32-bit values, array
    containers only (at most 4096 values per 64 Ki block)."""
    blocks = {}
    for v in values:
        blocks.setdefault(v >> 16, []).append(v & 0xFFFF)
    keys = sorted(blocks)
    head = struct.pack("<II", 12346, len(keys))
    head += b"".join(struct.pack("<HH", k, len(blocks[k]) - 1) for k in keys)
    off = len(head) + 4 * len(keys)
    offsets, data = b"", b""
    for k in keys:
        vals = sorted(blocks[k])
        assert len(vals) <= 4096
        offsets += struct.pack("<I", off + len(data))
        data += struct.pack("<%dH" % len(vals), *vals)
    return head + offsets + data


def report(machine, boot_id, offsets, label="reliability", upload_id=None, version=1,
           created=None):
    """A REPORT of one trace-mode run covering vmlinux offsets (canonical
    offsets from _text, as kcovd stores them), as wire v1 or v2, taken at
    created (unix seconds; default now). Returns (upload id hex, frame)."""
    uid = upload_id or os.urandom(16)
    pcs = sorted(LINK_TEXT + o for o in set(offsets))
    vals = [pc - WINDOW for pc in pcs]
    n = len(vals)
    run = (_str("reliability") + struct.pack("<BBH", 2, 0, 0) +
           struct.pack("<QQQQQQ", 1 << 16, n, 0, 0, 0, 1000) +
           struct.pack("<IQ", 0, n))
    if version == 2:
        region = struct.pack("<Q", WINDOW) + deltas(vals)
    else:
        bits = roaring_portable(vals)
        region = struct.pack("<QI", WINDOW, len(bits)) + bits
    payload = (_str(machine) + _str(boot_id) + uid + _str(label) + _str("6.1.0-kcov-standin") +
               struct.pack("<Q", int(time.time()) if created is None else created) +
               struct.pack("<I", 1) + run +
               struct.pack("<I", 1) + region)
    return uid.hex(), frame(1, payload, version)


def addrmap(machine, boot_id, build_id, kaslr=0x1E000000):
    """An ADDRMAP of a boot of the stand-in kernel without modules."""
    start = LINK_TEXT + kaslr
    payload = (_str(machine) + _str(boot_id) + _str("6.1.0-kcov-standin") + _str(build_id) +
               struct.pack("<QQQI", start, start + TEXT_SIZE, LINK_TEXT, 0))
    return frame(2, payload)
