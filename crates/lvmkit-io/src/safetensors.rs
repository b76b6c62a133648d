//! safetensors files, written one way: model checkpoints, GraphMERT runs and the ridge
//! baseline all go through [`write`], so every such file is atomic and the same inputs give the
//! same bytes.
//!
//! Metadata is stored under one key, [`META_KEY`], as JSON with sorted keys: safetensors writes
//! its metadata map in `HashMap` order, which would make identical files differ byte for byte.
//! NumPy/PyTorch users read it with `safe_open(path).metadata()["lvmkit"]` and `json.loads`.

use anyhow::{Context, Result};
use safetensors::tensor::{SafeTensors, View};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// The one metadata key lvmkit writes.
pub const META_KEY: &str = "lvmkit";

/// Writes `tensors` (any order: safetensors sorts them) and `metadata` to `path` atomically.
/// Empty metadata writes no metadata key.
pub fn write<S, V>(
    path: &Path,
    tensors: impl IntoIterator<Item = (S, V)>,
    metadata: &BTreeMap<String, String>,
) -> Result<()>
where
    S: AsRef<str> + Ord + std::fmt::Display,
    V: View,
{
    let header = if metadata.is_empty() {
        None
    } else {
        Some(HashMap::from([(
            META_KEY.to_string(),
            serde_json::to_string(metadata)?,
        )]))
    };
    let bytes = safetensors::serialize(tensors, header)
        .with_context(|| format!("cannot serialise {}", path.display()))?;
    crate::write_atomic(path, |w| Ok(w.write_all(&bytes)?))
}

/// The metadata [`write`] stored in a safetensors file's bytes: `None` when the file has no
/// lvmkit metadata; an error when the header is not safetensors or the metadata is not JSON.
pub fn metadata(bytes: &[u8]) -> Result<Option<BTreeMap<String, String>>> {
    let (_, header) = SafeTensors::read_metadata(bytes).context("not a safetensors header")?;
    match header.metadata().as_ref().and_then(|m| m.get(META_KEY)) {
        None => Ok(None),
        Some(json) => Ok(Some(
            serde_json::from_str(json).context("its lvmkit metadata is not a JSON object")?,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use safetensors::tensor::{Dtype, TensorView};

    fn tensors(a: &[u8], b: &[u8]) -> Vec<(&'static str, TensorView<'static>)> {
        // Leaked for the test's lifetime only: TensorView borrows its bytes.
        let a: &'static [u8] = Box::leak(a.to_vec().into_boxed_slice());
        let b: &'static [u8] = Box::leak(b.to_vec().into_boxed_slice());
        vec![
            ("b", TensorView::new(Dtype::F32, vec![1], b).unwrap()),
            ("a", TensorView::new(Dtype::F32, vec![2], a).unwrap()),
        ]
    }

    #[test]
    fn same_inputs_same_bytes_and_the_metadata_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let meta: BTreeMap<String, String> = (0..20)
            .map(|i| (format!("key{i}"), format!("value {i}")))
            .collect();
        let (x, y) = (
            dir.path().join("x.safetensors"),
            dir.path().join("y.safetensors"),
        );
        let a = [1f32, 2.0].map(f32::to_le_bytes).concat();
        let b = 3f32.to_le_bytes();
        write(&x, tensors(&a, &b), &meta).unwrap();
        write(&y, tensors(&a, &b), &meta).unwrap();
        let bytes = std::fs::read(&x).unwrap();
        assert_eq!(bytes, std::fs::read(&y).unwrap());
        assert_eq!(metadata(&bytes).unwrap(), Some(meta));
        let st = SafeTensors::deserialize(&bytes).unwrap();
        assert_eq!(st.tensor("a").unwrap().data(), &a[..]);
    }

    #[test]
    fn no_metadata_writes_none_and_garbage_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("plain.safetensors");
        let a = [0u8; 8];
        write(&p, tensors(&a, &a[..4]), &BTreeMap::new()).unwrap();
        assert_eq!(metadata(&std::fs::read(&p).unwrap()).unwrap(), None);
        assert!(metadata(b"not safetensors at all").is_err());
    }
}
