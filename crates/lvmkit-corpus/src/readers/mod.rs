//! One reader per input format. Each streams documents to the `emit` callback.

pub(crate) mod bible;
pub(crate) mod brown;
pub(crate) mod jsonl;
pub(crate) mod sotu;
pub(crate) mod text;
pub(crate) mod wiki;
