//! What every lvmkit stage shares: file formats, tables, and the rule that skips a stage.
//!
//! * [`atomic`]: write to a temporary file in the destination folder, then rename, so a crash or
//!   a bad input never leaves a half-written output behind.
//! * [`npy`]: NumPy `.npy` arrays (f32, C order), written whole or streamed row by row, read
//!   through a memory map so a large concept bank costs no copy.
//! * [`npz`]: the zip-of-npy layout NumPy's `savez` writes, for import and export.
//! * [`hash`]: sha256 of files and bytes, used for download checks, cache keys and manifests.
//! * [`safetensors`]: the one safetensors writer (atomic, deterministic metadata).
//! * [`text`]: text files of one item per line, with errors that name the line.
//! * [`table`]: the one table printer, Markdown or aligned text.
//! * [`setting`]: settings structs whose flags define their defaults, and errors that name the
//!   setting that caused them, for front ends to name as their own flag.
//! * [`lock`]: one writer per output, for the writer's whole life, and the leftovers of a
//!   killed writer cleaned up by the next.
//! * [`fresh`]: stage freshness, the one rule by which a stage is skipped when its inputs have
//!   not changed.

pub mod atomic;
pub mod fresh;
pub mod hash;
pub mod lock;
pub mod npy;
pub mod npz;
pub mod safetensors;
pub mod setting;
pub mod table;
pub mod text;

pub use atomic::{write_atomic, write_json_atomic};
pub use lock::OutputLock;
pub use npy::{NpyF32, NpyWriter};
pub use setting::{setting_error, setting_of, SettingError};
pub use table::{Align, Table};
