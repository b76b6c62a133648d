//! File formats shared by every lvmkit stage.
//!
//! * [`atomic`]: write to a temporary file in the destination folder, then rename, so a crash or
//!   a bad input never leaves a half-written output behind.
//! * [`npy`]: NumPy `.npy` arrays (f32, C order), written whole or streamed row by row, read
//!   through a memory map so a large concept bank costs no copy.
//! * [`npz`]: the zip-of-npy layout NumPy's `savez` writes, for import and export.
//! * [`hash`]: sha256 of files and bytes, used for download checks, cache keys and manifests.

pub mod atomic;
pub mod hash;
pub mod npy;
pub mod npz;

pub use atomic::{write_atomic, write_json_atomic};
pub use npy::{NpyF32, NpyWriter};
