//! The `znn-gpu` command: a thin layer over the library (see `src/cli/`).

fn main() {
    std::process::exit(znn_gpu::cli::main());
}
