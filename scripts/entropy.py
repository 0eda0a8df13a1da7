#!/usr/bin/env python3
"""Order-0 bounds of a BF16 safetensors file, in % of the file size, to compare znn-gpu's ratio with.
Needs numpy. usage: scripts/entropy.py FILE.safetensors [CHUNK_BYTES=262144]

Chunks are cut inside each tensor (as znn-gpu does). Rows:
  H(E)+H(M)        entropy of exponent and sign/mantissa streams (what an ideal order-0 coder reaches)
  H(E)+raw M       ideal coder on E, M stored raw (znn-gpu's BF16 layout stores M raw)
  huff(E)+raw M    unlimited Huffman on E, M raw: the floor for znn-gpu's codecs before any overhead
  H(E)+H(M|E)      M conditioned on the exponent (per tensor): what conditioning could gain
Other dtypes count at 100%."""
import heapq, json, struct, sys
import numpy as np

def H(c):
    c = c[c > 0].astype(np.float64)
    return float(-(c * np.log2(c / c.sum())).sum())

def huff_bits(c):
    c = [int(x) for x in c if x > 0]
    if len(c) < 2:
        return 0.0
    h = [(x, i, [i]) for i, x in enumerate(c)]
    heapq.heapify(h)
    L, n = [0] * len(c), len(c)
    while len(h) > 1:
        a, b = heapq.heappop(h), heapq.heappop(h)
        for i in a[2] + b[2]:
            L[i] += 1
        heapq.heappush(h, (a[0] + b[0], n, a[2] + b[2]))
        n += 1
    return float(sum(x * l for x, l in zip(c, L)))

path = sys.argv[1]
chunk = int(sys.argv[2]) if len(sys.argv) > 2 else 262144
d = open(path, 'rb').read()
n = struct.unpack('<Q', d[:8])[0]
hdr, base = json.loads(d[8:8 + n]), 8 + n
R = {'tensor': [0.0] * 4, 'chunk': [0.0] * 4}
other = 8 + n
for k, v in hdr.items():
    if k == '__metadata__':
        continue
    s, e = v['data_offsets']
    if v['dtype'] != 'BF16':
        other += e - s
        continue
    a = np.frombuffer(d[base + s:base + e], dtype='<u2').astype(np.int64)
    E, M = (a >> 7) & 0xFF, ((a >> 15) << 7) | (a & 0x7F)
    for name, parts in (('tensor', [(E, M)]),
                        ('chunk', [(E[i:i + chunk // 2], M[i:i + chunk // 2]) for i in range(0, len(a), chunk // 2)])):
        for ee, mm in parts:
            ce, cm = np.bincount(ee, minlength=256), np.bincount(mm, minlength=256)
            r = R[name]
            r[0] += H(ce) + H(cm)
            r[1] += H(ce) + 8 * len(ee)
            r[2] += huff_bits(ce) + 8 * len(ee)
            r[3] += H(ce) + sum(H(np.bincount(mm[ee == x], minlength=256)) for x in np.nonzero(ce)[0])
total = len(d)
print(f'{path}: {total} bytes, {100 * other / total:.3f}% not BF16 (counted at 100%)')
for name in ('tensor', 'chunk'):
    for label, bits in zip(('H(E)+H(M)', 'H(E)+raw M', 'huff(E)+raw M', 'H(E)+H(M|E)'), R[name]):
        print(f'  per {name:<6} {label:<14} {100 * (bits / 8 + other) / total:7.3f}%')
