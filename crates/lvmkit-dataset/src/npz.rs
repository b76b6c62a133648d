//! The seeds' `.npz` layout, for NumPy users: `context_sequences` [N, C, D] and
//! `target_vectors` [N, D].

use anyhow::{bail, Result};
use lvmkit_io::npz::{self, Array};
use std::path::Path;

use crate::build::{assemble, BuildOptions, Parts};
use crate::layout::{Dataset, DocumentEntry, EncoderInfo, InputInfo, Manifest};
use crate::split::assign;

/// Writes one split's windows as a seeds-style `.npz` (N×C×D contexts: this copies, which is
/// the point of the export).
pub fn export(data: &Dataset, split: &str, out: &Path) -> Result<usize> {
    let windows = data.windows(split)?;
    let (c, d) = (data.context(), data.dim());
    let mut contexts = Vec::with_capacity(windows.len() * c * d);
    let mut targets = Vec::with_capacity(windows.len() * d);
    for w in &windows {
        contexts.extend_from_slice(data.context_of(w));
        targets.extend_from_slice(data.target_of(w));
    }
    npz::write_f32(
        out,
        &[
            Array {
                name: "context_sequences",
                shape: vec![windows.len(), c, d],
                data: &contexts,
            },
            Array {
                name: "target_vectors",
                shape: vec![windows.len(), d],
                data: &targets,
            },
        ],
    )?;
    Ok(windows.len())
}

/// Builds a dataset from a seeds-style `.npz`. The archive has no document ids, so each sequence
/// becomes its own document of C+1 concepts and the split is by sequence: if the archive holds
/// overlapping windows of one article (as the seeds' exports do), they can land in different
/// splits. The caller should say so.
pub fn import(path: &Path, out: &Path, opts: &BuildOptions) -> Result<Manifest> {
    let lock = crate::build::lock_output(out)?;
    let (cshape, contexts) = npz::read_f32(path, "context_sequences")?;
    let (tshape, targets) = npz::read_f32(path, "target_vectors")?;
    if cshape.len() != 3 || tshape.len() != 2 {
        bail!(
            "{}: context_sequences must be [N, C, D] and target_vectors [N, D]; found {cshape:?} and {tshape:?}",
            path.display()
        );
    }
    let (n, c, d) = (cshape[0], cshape[1], cshape[2]);
    if tshape != [n, d] {
        bail!(
            "{}: target_vectors is {tshape:?} but context_sequences {cshape:?} needs [{n}, {d}]",
            path.display()
        );
    }
    if n == 0 {
        bail!("{}: the archive holds no sequences", path.display());
    }
    if let Some(i) = contexts.iter().chain(&targets).position(|x| !x.is_finite()) {
        bail!("{}: non-finite value at flat index {i}", path.display());
    }
    let sources = vec!["npz"; n];
    let splits = assign(&sources, opts.ratios, opts.seed);
    let mut vectors = Vec::with_capacity(n * (c + 1) * d);
    let mut entries = Vec::with_capacity(n);
    for i in 0..n {
        entries.push(DocumentEntry {
            index: i,
            id: format!("seq-{i}"),
            title: String::new(),
            source: "npz".into(),
            split: splits[i].into(),
            start: i * (c + 1),
            len: c + 1,
        });
        vectors.extend_from_slice(&contexts[i * c * d..(i + 1) * c * d]);
        vectors.extend_from_slice(&targets[i * d..(i + 1) * d]);
    }
    let parts = Parts {
        entries,
        texts: vec![String::new(); n * (c + 1)],
        vectors,
        dim: d,
        encoder: EncoderInfo {
            name: "unknown (imported from .npz)".into(),
            path: String::new(),
            fingerprint: String::new(),
            dim: d,
        },
        inputs: vec![InputInfo {
            path: path.display().to_string(),
            sha256: lvmkit_io::hash::sha256_file(path)?,
            role: "npz".into(),
        }],
        empty: 0,
        with_ood: false,
    };
    assemble(
        &lock,
        parts,
        &BuildOptions {
            context: c,
            ..opts.clone()
        },
    )
}
