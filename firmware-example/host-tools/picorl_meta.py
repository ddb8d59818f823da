#!/usr/bin/env python3
"""Prints what a .picorl file records about its environment (format version 2, `meta` section;
docs/model-format.md): the environment id on the first line, its options as `key=value,...` on the
second. Both lines are empty for a version-1 file or one without metadata. `firmware-example/run`
uses it to default `--env` to the file's environment.
Usage: picorl_meta.py FILE.picorl
"""
import struct
import sys

data = open(sys.argv[1], "rb").read()
if len(data) < 68 or data[:8] != b"\x89PICORL\n":
    sys.exit(f"error: {sys.argv[1]}: not a .picorl file")
version, = struct.unpack_from("<H", data, 8)
file_len, = struct.unpack_from("<I", data, 28)
meta_len = struct.unpack_from("<I", data, 48)[0] if version >= 2 else 0
if meta_len == 0 or file_len != len(data):
    print()
    print()
    sys.exit(0)
# The metadata is the last section: it starts 16-aligned, and the CRC follows it at the next
# multiple of 16, so it starts (meta_len rounded up to 16) bytes before the CRC.
start = (file_len - 4) - (meta_len + 15) // 16 * 16
meta = data[start:start + meta_len]


def string(pos):
    n = meta[pos]
    return meta[pos + 1:pos + 1 + n].decode("utf-8"), pos + 1 + n


env, pos = string(0)
_algo, pos = string(pos)
count = meta[pos]
pos += 1
options = []
for _ in range(count):
    kv, pos = string(pos)
    options.append(kv)
print(env)
print(",".join(options))
