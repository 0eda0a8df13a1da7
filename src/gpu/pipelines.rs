//! Shader modules, the one bind group layout both kernels share, and the two compute pipelines.
//! Created once per [`super::GpuDecoder`].

use crate::constants::{GPU_HUFF_WG, GPU_MERGE_WG, GPU_MERGE_WPI};
use crate::error::{Error, Result};

const COMMON: &str = include_str!("../../shaders/common.wgsl");
const HUFFMAN: &str = include_str!("../../shaders/huffman_decode.wgsl");
const MERGE: &str = include_str!("../../shaders/merge.wgsl");

/// Bytes of `huffman_decode.wgsl`'s workgroup table; wgpu 30 does not check it against the limit.
const HUFF_WORKGROUP_BYTES: u32 = 4096;

pub struct Pipelines {
    pub layout: wgpu::BindGroupLayout,
    pub huffman: wgpu::ComputePipeline,
    pub merge: wgpu::ComputePipeline,
}

/// The WGSL of a kernel: workgroup sizes from `constants.rs`, the shared bindings, the kernel.
pub fn source(kernel: &str) -> String {
    format!(
        "const HUFF_WG: u32 = {GPU_HUFF_WG}u;\nconst MERGE_WG: u32 = {GPU_MERGE_WG}u;\n\
         const MERGE_WPI: u32 = {GPU_MERGE_WPI}u;\n{COMMON}\n{kernel}"
    )
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
        if l.max_compute_workgroup_storage_size < HUFF_WORKGROUP_BYTES
            || l.max_compute_invocations_per_workgroup < GPU_MERGE_WG.max(GPU_HUFF_WG)
            || l.max_storage_buffers_per_shader_stage < 8
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
            (2, true),
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
        let huffman = make("huffman_decode.wgsl", HUFFMAN);
        let merge = make("merge.wgsl", MERGE);
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(Error::Gpu(format!("creating pipelines: {e}")));
        }
        Ok(Pipelines {
            layout,
            huffman,
            merge,
        })
    }
}
