#!/usr/bin/env python3
"""Order-0 bounds of a BF16, FP16 or FP32 safetensors file, in % of the file size, to compare
znn-gpu's ratio with. Needs numpy. usage: scripts/entropy.py FILE.safetensors [CHUNK_BYTES=262144]

Per tensor and per chunk (chunks cut inside each tensor, as znn-gpu does). For each float tensor,
A is the first stream of its layout and B the second (FORMAT.md, "Layouts": BF16 and FP32 the
exponent E and the sign + top 7 mantissa bits M; FP16 the high and the low byte); FP32's two low
mantissa bytes L count at their order-0 entropy in every row. Rows:
  H(A)+H(B)          each stream alone, ideal order-0 coder
  H(A)+raw B         ideal coder on A, B stored raw (the v1 codecs on BF16: B is raw)
  huff(A)+raw B      unlimited Huffman on A, B raw: the floor of the v1 codecs before overheads
  H(A)+H(B|A)        B conditioned on A, = H(A, B): the joint bound of issue 13
  H(P3)+raw          the pair symbol of codec 4 with K = 3 (A with the top 3 bits of B), the other
                     5 bits raw: the floor of `--codecs balanced` before whole-bit and table costs
  huff(P3)+raw       unlimited Huffman on that symbol (codec 4 limits codes to 12 bits)
  H(A,B) 2-fold      the joint (A, B) symbol coded with statistics that did not see it: the even
                     elements' counts (add-1/2 over the symbols either half has) code the odd
                     elements and vice versa. H(A)+H(B|A) fits up to 65,536 counts to the very
                     data it measures, which small tensors cannot pay for; this row is what such
                     statistics can learn. An estimate, not a bound: half the data trains each
                     half. A coder gets nearer H(A)+H(B|A) only by sending its statistics,
                     whose cost neither row counts
Tensors of other dtypes, and the header, count at 100%."""
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

def streams(dtype, raw):
    """(A, B, [other byte streams]) of a tensor's bytes."""
    if dtype == 'BF16':
        w = np.frombuffer(raw, dtype='<u2').astype(np.int64)
        return (w >> 7) & 0xFF, ((w >> 15) << 7) | (w & 0x7F), []
    if dtype == 'F16':
        w = np.frombuffer(raw, dtype='<u2').astype(np.int64)
        return w >> 8, w & 0xFF, []
    w = np.frombuffer(raw, dtype='<u4').astype(np.int64)
    return (w >> 23) & 0xFF, ((w >> 31) << 7) | ((w >> 16) & 0x7F), [(w >> 8) & 0xFF, w & 0xFF]

ROWS = ('H(A)+H(B)', 'H(A)+raw B', 'huff(A)+raw B', 'H(A)+H(B|A)', 'H(P3)+raw', 'huff(P3)+raw',
        'H(A,B) 2-fold')

def cross_bits(train, test, size):
    """Bits to code `test` with add-1/2 counts of `train`, over the symbols either has."""
    c = np.bincount(train, minlength=size).astype(np.float64)
    t = np.bincount(test, minlength=size).astype(np.float64)
    seen = (c + t) > 0
    p = (c[seen] + 0.5) / (c[seen] + 0.5).sum()
    return float(-(t[seen] * np.log2(p)).sum())

def bounds(A, B, rest):
    ca, cb = np.bincount(A, minlength=256), np.bincount(B, minlength=256)
    cj = np.bincount(A * 256 + B, minlength=65536)
    cp = np.bincount(A * 8 + (B >> 5), minlength=2048)
    low = sum(H(np.bincount(x, minlength=256)) for x in rest)
    n = len(A)
    j = A * 256 + B
    fold = cross_bits(j[0::2], j[1::2], 65536) + cross_bits(j[1::2], j[0::2], 65536)
    return [H(ca) + H(cb) + low, H(ca) + 8 * n + low, huff_bits(ca) + 8 * n + low,
            H(cj) + low, H(cp) + 5 * n + low, huff_bits(cp) + 5 * n + low, fold + low]

path = sys.argv[1]
chunk = int(sys.argv[2]) if len(sys.argv) > 2 else 262144
d = open(path, 'rb').read()
n = struct.unpack('<Q', d[:8])[0]
hdr, base = json.loads(d[8:8 + n]), 8 + n
R = {'tensor': [0.0] * len(ROWS), 'chunk': [0.0] * len(ROWS)}
other, dtypes = 8 + n, set()
for k, v in hdr.items():
    if k == '__metadata__':
        continue
    s, e = v['data_offsets']
    if v['dtype'] not in ('BF16', 'F16', 'F32') or e == s:
        other += e - s
        continue
    dtypes.add(v['dtype'])
    A, B, rest = streams(v['dtype'], d[base + s:base + e])
    per = chunk // {'F32': 4}.get(v['dtype'], 2)
    for name, parts in (('tensor', [(A, B, rest)]),
                        ('chunk', [(A[i:i + per], B[i:i + per], [x[i:i + per] for x in rest])
                                   for i in range(0, len(A), per)])):
        for a, b, r in parts:
            R[name] = [x + y for x, y in zip(R[name], bounds(a, b, r))]
total = len(d)
print(f'{path}: {total} bytes, {"/".join(sorted(dtypes))}, {100 * other / total:.3f}% other (counted at 100%)')
for name in ('tensor', 'chunk'):
    for label, bits in zip(ROWS, R[name]):
        print(f'  per {name:<6} {label:<14} {100 * (bits / 8 + other) / total:7.3f}%')
