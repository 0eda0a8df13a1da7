//! Pair codes (codecs 4 and 5, format v3): round trips of every layout with every codec set,
//! including the streams that stress them (one exponent, one mantissa value per exponent,
//! subnormals, NaN payloads), checked against the reference decoder written from FORMAT.md; files
//! never larger than with the v1 codecs; version rules; hostile records; and every device
//! decoding them (tests/gpu_pair.rs checks the GPU kernels in depth).

use znn_test_support as common;

use common::*;
use znn_gpu::codec::CodecSet;
use znn_gpu::format::Codec;
use znn_gpu::{compress_bytes, decompress_bytes, Archive, Decoder, Device, ErrorKind, Layout};

const SETS: [CodecSet; 3] = [CodecSet::Fast, CodecSet::Balanced, CodecSet::Small];

#[test]
fn every_layout_and_pattern_round_trips_with_every_codec_set() {
    for layout in Layout::ALL {
        for (what, data) in float_patterns(layout, 12_000) {
            let mut sizes = Vec::new();
            for set in SETS {
                let o = with_codecs(&opts(8192, 256, layout), set);
                let name = format!("{layout:?} {what} {set:?}");
                let z = roundtrip(&data, &o, &name);
                let a = Archive::from_bytes(&z).unwrap();
                let pairs = pair_counts(&a);
                assert_eq!(
                    pairs[0], pairs[1],
                    "{name}: every pair stream has its partner"
                );
                let floats = matches!(layout, Layout::Bf16 | Layout::Fp16 | Layout::Fp32);
                let version = if set != CodecSet::Fast && floats {
                    3
                } else {
                    1
                };
                assert_eq!(z[8], version, "{name}: format version");
                if set == CodecSet::Fast || !floats {
                    assert_eq!(pairs, [0, 0], "{name}");
                }
                if set != CodecSet::Fast && what == "mantissa given exponent" {
                    assert!(pairs[0] > 0, "{name}: is pair coded");
                }
                sizes.push(z.len());
            }
            // A wider set never makes the file larger, but for the v3 index's 4-byte
            // `pair_streams` field when no chunk takes a pair code.
            assert!(
                sizes[1] <= sizes[0] + 4 && sizes[2] <= sizes[1] + 64,
                "{layout:?} {what}: sizes {sizes:?}"
            );
        }
    }
}

#[test]
fn pair_codes_beat_the_v1_codecs_on_real_weights() {
    let model = repo_model();
    let mut sizes = Vec::new();
    for set in SETS {
        let o = with_codecs(&opts(262_144, 4096, Layout::Bf16), set);
        let z = roundtrip(&model, &o, &format!("shipped model {set:?}"));
        sizes.push(z.len());
    }
    eprintln!("shipped model, fast / balanced / small: {sizes:?} bytes");
    assert!(sizes[1] < sizes[0] && sizes[2] <= sizes[1], "{sizes:?}");
}

fn pair_file() -> (Vec<u8>, Vec<u8>) {
    let data = pair_skewed(Layout::Bf16, 20_000, 5);
    let z = compress_bytes(
        &data,
        &with_codecs(&opts(8192, 256, Layout::Bf16), CodecSet::Balanced),
    )
    .unwrap();
    let a = Archive::from_bytes(&z).unwrap();
    assert!(pair_counts(&a)[0] > 0);
    (data, z)
}

#[test]
fn pair_codecs_in_an_older_version_are_corrupt() {
    let (_, z) = pair_file();
    for v in [1u8, 2] {
        let mut g = z.clone();
        g[8] = v;
        let e = decompress_bytes(&g).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corrupt, "version {v}: {e}");
        assert!(ref_decode(&g).is_err());
    }
    // Read as version 4 the index lacks its base record: corrupt, not misread.
    let mut g = z.clone();
    g[8] = 4;
    let e = decompress_bytes(&g).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
    assert!(ref_decode(&g).is_err());
    g[8] = 5;
    let e = decompress_bytes(&g).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnsupportedVersion, "{e}");
}

#[test]
fn hostile_pair_records_and_tables_are_clear_errors() {
    let (data, z) = pair_file();
    let a = Archive::from_bytes(&z).unwrap();
    let r = ref_parse(&z).unwrap();
    let idx = &z[r.index_range.clone()];
    // Every byte of the index changed to each of a few values, the hashes made right again: an
    // error of a known kind or the original, never a panic or other bytes (the index has records
    // of codecs 4 and 5, their `bits` fields and sub-stream lengths).
    let mut checked = 0;
    for i in 0..idx.len() {
        for v in [0u8, 1, 3, 4, 5, 9, 0xFF] {
            if idx[i] == v {
                continue;
            }
            let mut forged = idx.to_vec();
            forged[i] = v;
            let g = reseal(&z, r.index_range.clone(), &forged, a.original_len());
            let got = std::panic::catch_unwind(|| decompress_bytes(&g));
            match got {
                Ok(Ok(out)) => assert_eq!(out, data, "index byte {i} = {v} decoded to other bytes"),
                Ok(Err(_)) => {}
                Err(_) => panic!("index byte {i} = {v}: panic"),
            }
            checked += 1;
        }
    }
    // Every byte of each pair table flipped: the table checks or the chunk checksum catch it.
    for c in a.index.chunks() {
        for s in a.index.chunk_streams(c) {
            if s.codec() != Codec::Pair {
                continue;
            }
            let at = Archive::DATA_START as usize + s.data_offset as usize;
            for i in at..at + 40 {
                let mut g = z.clone();
                g[i] ^= 0x5A;
                let e = decompress_bytes(&g).unwrap_err();
                assert_eq!(e.kind(), ErrorKind::Corrupt, "table byte {i}: {e}");
                checked += 1;
            }
        }
    }
    assert!(checked > 1000);
}

#[test]
fn every_device_decodes_pair_codes() {
    let (data, z) = pair_file();
    let a = Archive::from_bytes(&z).unwrap();
    assert!(a.index.has_pairs());
    for device in [Device::Cpu, Device::Auto, Device::Gpu] {
        let d = match Decoder::new(device) {
            Ok(d) => d,
            Err(e) => {
                say_skipped(&format!("SKIPPED: no GPU adapter ({e})"));
                continue;
            }
        };
        let mut out = Vec::new();
        let ran = d
            .decompress(&a, &z.as_slice(), &mut out, None, &mut |_| {})
            .unwrap();
        if device == Device::Gpu {
            assert!(matches!(ran, znn_gpu::decoder::Ran::Gpu(_)), "{ran}");
        }
        assert_same(&out, &data, &format!("{device:?}"));
        d.verify(&a, &z.as_slice(), None, &mut |_| {}).unwrap();
    }
}

/// Code that holds a `GpuDecoder` (not going through `Decoder`) gets the CPU's bytes.
#[cfg(feature = "gpu")]
#[test]
fn a_gpu_decoder_called_directly_decodes_pair_codes_as_the_cpu() {
    let (data, z) = pair_file();
    let a = Archive::from_bytes(&z).unwrap();
    let mut g = match znn_gpu::gpu::GpuDecoder::new() {
        Ok(g) => g,
        Err(e) => return say_skipped(&format!("SKIPPED: no GPU adapter ({e})")),
    };
    let cpu = decompress_bytes(&z).unwrap();
    assert_same(&cpu, &data, "cpu");
    let out = g
        .decode_to_buffer(&a, &z[Archive::DATA_START as usize..])
        .unwrap();
    assert_same(
        &g.read_back(&out.buffer, out.len).unwrap(),
        &cpu,
        "device buffer",
    );
    assert_same(&g.decompress_bytes(&z).unwrap(), &cpu, "decompress_bytes");
}
