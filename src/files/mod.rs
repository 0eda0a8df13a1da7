//! Files: atomic outputs, inputs (stdin and pipes spooled), the `NAME` <-> `NAME.znn` rule, and the
//! single-file compress, decompress and verify operations that every front end calls.

mod atomic;
mod input;
mod naming;
mod ops;

pub use atomic::{parent, set_temp_hook, sync_dir, Output, TempHook, OWN_PREFIX};
pub use input::{open_input, Input};
pub use naming::{is_znn_name, strip_znn, znn_name};
pub use ops::{
    compress_file, compress_parts, decoded_hash, decompress_file, file_hash, open_base, open_znn,
    Done, FileOptions, Hashing,
};
