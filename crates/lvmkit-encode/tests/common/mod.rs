//! Paths to the real encoder and the shared test data, for the integration tests.

use std::path::PathBuf;

/// The fetched all-MiniLM-L6-v2 folder. The tests need the real encoder: they fail (not skip)
/// without it, because a skipped parity test proves nothing. `lvmkit fetch` installs it.
pub fn minilm_dir() -> PathBuf {
    let data = std::env::var_os("LVMKIT_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data"));
    let dir = data.join("encoders/all-MiniLM-L6-v2");
    assert!(
        dir.join("model.safetensors").exists(),
        "the real encoder is missing at {}: run `cargo run --release -p lvmkit -- fetch --only all-MiniLM-L6-v2` first",
        dir.display()
    );
    dir
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
