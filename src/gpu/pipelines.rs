//! Shader modules, the one bind group layout every kernel shares, and the compute pipelines.
//! Created once per [`super::GpuDecoder`].

use super::shader_consts::{
    preamble, xxh3_secret_wgsl, CSUM_WG, FUSED_TABLE_WORDS, PAIR_TABLE_WORDS, TABLE_WORKGROUP_BYTES,
};
use crate::constants::{GPU_HUFF_WG, GPU_MERGE_WG};
use crate::error::{Error, Result};

const COMMON: &str = include_str!("../../shaders/common.wgsl");
const HUFFMAN: &str = include_str!("../../shaders/huffman_decode.wgsl");
const PAIR: &str = include_str!("../../shaders/pair_decode.wgsl");
const FUSED: &str = include_str!("../../shaders/fused_decode.wgsl");
const RANS: &str = include_str!("../../shaders/rans_decode.wgsl");
const TABLE_BUILD: &str = include_str!("../../shaders/table_build.wgsl");
const HUFFMAN_SYMBOLS: &str = include_str!("../../shaders/huffman_symbols.wgsl");
const PAIR_SYMBOLS: &str = include_str!("../../shaders/pair_symbols.wgsl");
const RANS_SYMBOLS: &str = include_str!("../../shaders/rans_symbols.wgsl");
const MERGE: &str = include_str!("../../shaders/merge.wgsl");
const CHECKSUM: &str = include_str!("../../shaders/checksum.wgsl");

pub struct Pipelines {
    pub layout: wgpu::BindGroupLayout,
    pub huffman: wgpu::ComputePipeline,
    pub pair: wgpu::ComputePipeline,
    pub fused: wgpu::ComputePipeline,
    pub rans: wgpu::ComputePipeline,
    pub merge: wgpu::ComputePipeline,
    pub checksum: wgpu::ComputePipeline,
}

/// The kernels, by name.
pub const KERNELS: [(&str, &str); 6] = [
    ("huffman_decode.wgsl", HUFFMAN),
    ("merge.wgsl", MERGE),
    ("checksum.wgsl", CHECKSUM),
    ("pair_decode.wgsl", PAIR),
    ("fused_decode.wgsl", FUSED),
    ("rans_decode.wgsl", RANS),
];

/// The WGSL of a kernel: the generated constants, the shared bindings, the kernel (the checksum
/// kernel also gets xxh3's secret; the kernels that decode with a table get its builder, sized for
/// what they keep there: 8 KiB, a pair table or a Huffman table and its second-symbol table, and
/// for the fused kernel 10 KiB, room for two tables; the kernels that decode Huffman symbols, pair
/// elements or rANS symbols get `huffman_symbols.wgsl`, `pair_symbols.wgsl` or
/// `rans_symbols.wgsl`).
pub fn source(kernel: &str) -> String {
    let mut extra = String::new();
    if kernel.contains("XXH3_SECRET") {
        extra = xxh3_secret_wgsl();
    }
    if kernel.contains("build_table(") {
        // The fused kernel may hold two tables at once (from FUSED_TABLE1_WORD on).
        let words = if kernel.contains("FUSED_TABLE1_WORD") {
            FUSED_TABLE_WORDS
        } else {
            PAIR_TABLE_WORDS as u32
        };
        extra = format!("const BUILD_WORDS: u32 = {words}u;\n{TABLE_BUILD}\n");
    }
    if kernel.contains("build_second(") {
        extra.push_str(HUFFMAN_SYMBOLS);
        extra.push('\n');
    }
    if kernel.contains("next_pair(") {
        extra.push_str(PAIR_SYMBOLS);
        extra.push('\n');
    }
    if kernel.contains("rans_build(") {
        extra.push_str(RANS_SYMBOLS);
        extra.push('\n');
    }
    format!("{}{COMMON}\n{extra}{kernel}", preamble())
}

fn storage(binding: u32, read_only: bool) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Storage { read_only },
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    }
}

impl Pipelines {
    pub fn new(device: &wgpu::Device) -> Result<Pipelines> {
        let l = device.limits();
        let workgroup_bytes = TABLE_WORKGROUP_BYTES.max(CSUM_WG * 8 + 4);
        if l.max_compute_workgroup_storage_size < workgroup_bytes
            || l.max_compute_invocations_per_workgroup < GPU_MERGE_WG.max(GPU_HUFF_WG).max(CSUM_WG)
            || l.max_storage_buffers_per_shader_stage < 7
        {
            return Err(Error::Gpu(format!(
                "device limits too small: {} B workgroup storage, {} invocations, {} storage buffers",
                l.max_compute_workgroup_storage_size,
                l.max_compute_invocations_per_workgroup,
                l.max_storage_buffers_per_shader_stage
            )));
        }
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let mut entries = vec![wgpu::BindGroupLayoutEntry {
            binding: 0,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Uniform,
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        }];
        for (b, ro) in [
            (1, true),
            (3, true),
            (4, true),
            (5, false),
            (6, true),
            (7, false),
            (8, false),
        ] {
            entries.push(storage(b, ro));
        }
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("znn decode"),
            entries: &entries,
        });
        let pl = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("znn decode"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let make = |name: &str, kernel: &str| {
            let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(name),
                source: wgpu::ShaderSource::Wgsl(source(kernel).into()),
            });
            device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(name),
                layout: Some(&pl),
                module: &module,
                entry_point: Some("main"),
                compilation_options: Default::default(),
                cache: None,
            })
        };
        let huffman = make(KERNELS[0].0, KERNELS[0].1);
        let merge = make(KERNELS[1].0, KERNELS[1].1);
        let checksum = make(KERNELS[2].0, KERNELS[2].1);
        let pair = make(KERNELS[3].0, KERNELS[3].1);
        let fused = make(KERNELS[4].0, KERNELS[4].1);
        let rans = make(KERNELS[5].0, KERNELS[5].1);
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(Error::Gpu(format!("creating pipelines: {e}")));
        }
        Ok(Pipelines {
            layout,
            huffman,
            pair,
            fused,
            rans,
            merge,
            checksum,
        })
    }
}

#[cfg(test)]
mod tests {
    /// The generated sources parse and validate (naga, as wgpu does), with no adapter needed.
    #[test]
    fn generated_kernels_parse_and_validate() {
        for (name, k) in super::KERNELS {
            let src = super::source(k);
            let module = naga::front::wgsl::parse_str(&src)
                .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(&src)));
            naga::valid::Validator::new(
                naga::valid::ValidationFlags::all(),
                naga::valid::Capabilities::all(),
            )
            .validate(&module)
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        }
    }
}
