//! Paths to the real encoder (through `lvmkit_sources`) and the shared test data, for the
//! integration tests.

use std::path::PathBuf;

/// The fetched all-MiniLM-L6-v2 folder. The tests need the real encoder: they fail (not skip)
/// without it, because a skipped parity test proves nothing. `lvmkit fetch` installs it.
pub fn minilm_dir() -> PathBuf {
    lvmkit_sources::fetched(&[lvmkit_sources::DEFAULT_ENCODER]).default_encoder()
}

/// `shared/testdata`, beside the repository.
pub fn testdata() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata");
    assert!(
        dir.exists(),
        "shared test data missing at {}",
        dir.display()
    );
    dir
}
