#!/usr/bin/env python3
"""Derives test models from ../shared/corpus (needs numpy): mobilenet as FP16 and as BF16 (round to
nearest even), a "clean" FP32 minilm widened from BF16, and a fine-tuned minilm (every BF16 weight
times 1 + 0.002 N(0, 1), seed 0, rounded to nearest even: a checkpoint delta against the corpus
file). Writes to DIR (default /dev/shm)."""
import json, os, struct, sys
import numpy as np
OUT = sys.argv[1] if len(sys.argv) > 1 else "/dev/shm"
CORPUS = os.environ.get("ZNN_CORPUS", os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../shared/corpus"))
def load(p):
    d=open(p,'rb').read(); n=struct.unpack('<Q',d[:8])[0]; h=json.loads(d[8:8+n]); return d,h,8+n
def save(p, tensors):
    hdr={}; off=0; blobs=[]
    for name,(dt,shape,b) in tensors.items():
        hdr[name]={'dtype':dt,'shape':shape,'data_offsets':[off,off+len(b)]}; off+=len(b); blobs.append(b)
    j=json.dumps(hdr).encode(); j+=b' '*((8-len(j)%8)%8)
    open(p,'wb').write(struct.pack('<Q',len(j))+j+b''.join(blobs))
def to_bf16(a):
    """FP32 array -> BF16 bytes, rounded to nearest even (as tensor.to(torch.bfloat16))."""
    u=a.view('<u4').astype(np.uint64); return ((u + 0x7FFF + ((u>>16)&1))>>16).astype('<u2').tobytes()
d,h,base=load(CORPUS+'/mobilenet-v2.fp32.safetensors')
f16={}; b16={}
for k,v in h.items():
    if k=='__metadata__': continue
    s,e=v['data_offsets']; raw=d[base+s:base+e]
    if v['dtype']=='F32':
        a=np.frombuffer(raw,dtype='<f4')
        f16[k]=('F16',v['shape'],a.astype('<f2').tobytes())
        b16[k]=('BF16',v['shape'],to_bf16(a))
    else:
        f16[k]=(v['dtype'],v['shape'],raw); b16[k]=(v['dtype'],v['shape'],raw)
save(OUT+'/mobilenet.f16.safetensors',f16); save(OUT+'/mobilenet.bf16.safetensors',b16)
d,h,base=load(CORPUS+'/minilm-l6.bf16.safetensors')
c={}
for k,v in h.items():
    if k=='__metadata__': continue
    s,e=v['data_offsets']; raw=d[base+s:base+e]
    if v['dtype']=='BF16':
        a=np.frombuffer(raw,dtype='<u2').astype('<u4')<<16
        c[k]=('F32',v['shape'],a.astype('<u4').tobytes())
    else: c[k]=(v['dtype'],v['shape'],raw)
save(OUT+'/minilm.clean-f32.safetensors',c)
rng=np.random.default_rng(0)
m={}
for k,v in h.items():
    if k=='__metadata__': continue
    s,e=v['data_offsets']; raw=d[base+s:base+e]
    if v['dtype']=='BF16':
        a=(np.frombuffer(raw,dtype='<u2').astype('<u4')<<16).view('<f4')
        a=(a*(1+0.002*rng.standard_normal(a.shape))).astype('<f4')
        m[k]=('BF16',v['shape'],to_bf16(a))
    else: m[k]=(v['dtype'],v['shape'],raw)
save(OUT+'/minilm.moved.safetensors',m)
