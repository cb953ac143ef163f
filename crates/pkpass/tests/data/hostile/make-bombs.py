#!/usr/bin/env python3
"""Writes the zip bombs used by tests/template.rs (kept in the repo so tests need no generator).

bomb.zip:        pass.json + zeros.bin, 1 GiB of zeros deflated, sizes stated honestly.
understated.zip: the same, but both headers claim zeros.bin is 1,000 bytes.
"""
import struct, zlib, io

GIB = 1 << 30
PASS_JSON = b'{"description": "bomb", "organizationName": "x", "generic": {}}'

def deflate_zeros(n):
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = bytes(1 << 20)
    out = io.BytesIO()
    crc = 0
    for _ in range(n // len(chunk)):
        out.write(c.compress(chunk))
        crc = zlib.crc32(chunk, crc)
    out.write(c.flush())
    return out.getvalue(), crc & 0xFFFFFFFF

def write_zip(path, entries):
    """entries: (name, method, data, crc, compressed_size, stated_size)"""
    out = io.BytesIO()
    central = []
    for name, method, data, crc, stated in entries:
        offset = out.tell()
        n = name.encode()
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, crc, len(data), stated, len(n), 0))
        out.write(n)
        out.write(data)
        central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0x21, crc,
                                   len(data), stated, len(n), 0, 0, 0, 0, 0, offset) + n)
    cd_start = out.tell()
    for c in central:
        out.write(c)
    cd_size = out.tell() - cd_start
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(central), len(central), cd_size, cd_start, 0))
    with open(path, "wb") as f:
        f.write(out.getvalue())

data, crc = deflate_zeros(GIB)
pj = (PASS_JSON, zlib.crc32(PASS_JSON) & 0xFFFFFFFF)
write_zip("bomb.zip", [("pass.json", 0, pj[0], pj[1], len(PASS_JSON)), ("zeros.bin", 8, data, crc, GIB)])
write_zip("understated.zip", [("pass.json", 0, pj[0], pj[1], len(PASS_JSON)), ("zeros.bin", 8, data, crc, 1000)])
