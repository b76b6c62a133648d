//! Building a dataset folder from corpus JSONL files.

use anyhow::{bail, Context, Result};
use lvmkit_corpus::Document;
use lvmkit_encode::shard::{Merged, ShardReport};
use lvmkit_encode::{
    encode_with_cache, EmbeddingCache, EncodeOptions, SentenceEncoder, Shard, ShardInput,
};
use lvmkit_io::OutputLock;
use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;
use std::path::{Path, PathBuf};

use crate::layout::{
    DocumentEntry, EncoderInfo, InputInfo, Manifest, SplitSummary, TruncatedTexts, FORMAT_VERSION,
};
use crate::split::{assign, SplitRatios};

/// One corpus file (`lvmkit ingest` output); `ood` ones form the `ood` split.
#[derive(Debug, Clone)]
pub struct BuildInput {
    pub path: PathBuf,
    pub ood: bool,
}

#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub context: usize,
    pub ratios: SplitRatios,
    pub seed: u64,
    pub encode: EncodeOptions,
    /// Embedding cache root; `None` embeds everything afresh.
    pub cache_dir: Option<PathBuf>,
}

/// Reads one corpus JSONL file. Our own format, so a malformed line is an error (with its
/// line number), not something to skip.
pub fn read_corpus(path: &Path) -> Result<Vec<Document>> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot open corpus {}", path.display()))?;
    let mut docs = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line
            .with_context(|| format!("{}:{}: cannot read (not UTF-8?)", path.display(), i + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let doc: Document = serde_json::from_str(&line).with_context(|| {
            format!(
                "{}:{}: not a corpus document (expected {{\"id\", \"title\", \"source\", \"sentences\"}}; make corpora with `lvmkit ingest`)",
                path.display(),
                i + 1
            )
        })?;
        docs.push(doc);
    }
    Ok(docs)
}

/// The documents and sentences of a build's inputs, before embedding.
struct Collected {
    entries: Vec<DocumentEntry>,
    texts: Vec<String>,
    inputs: Vec<InputInfo>,
    empty: usize,
    with_ood: bool,
}

impl Collected {
    /// The inputs as sharded jobs identify them.
    fn shard_inputs(&self) -> Vec<ShardInput> {
        self.inputs
            .iter()
            .map(|i| ShardInput {
                path: i.path.clone(),
                sha256: i.sha256.clone(),
                role: i.role.clone(),
            })
            .collect()
    }
}

/// Reads the inputs, splits their documents and lists every sentence once per occurrence,
/// documents contiguous.
fn collect(inputs: &[BuildInput], opts: &BuildOptions) -> Result<Collected> {
    if opts.context == 0 {
        bail!("--context must be at least 1");
    }
    if !inputs.iter().any(|i| !i.ood) {
        bail!("no training corpus given (only --ood corpora)");
    }
    // 1. Documents, with their split.
    let mut docs: Vec<(Document, bool)> = Vec::new();
    let mut input_info = Vec::new();
    let mut empty = 0;
    let mut seen: HashMap<(String, String), PathBuf> = HashMap::new();
    for input in inputs {
        let corpus = read_corpus(&input.path)?;
        if corpus.is_empty() {
            bail!("corpus {} has no documents", input.path.display());
        }
        for d in corpus {
            if d.sentences.iter().all(|s| s.trim().is_empty()) {
                empty += 1;
                continue;
            }
            let key = (d.source.clone(), d.id.clone());
            if let Some(first) = seen.insert(key, input.path.clone()) {
                bail!(
                    "document id '{}' (source '{}') appears twice (in {} and {}); ids must be unique so that a document lands in exactly one split",
                    d.id,
                    d.source,
                    first.display(),
                    input.path.display()
                );
            }
            docs.push((d, input.ood));
        }
        input_info.push(InputInfo {
            path: input.path.display().to_string(),
            sha256: lvmkit_io::hash::sha256_file(&input.path)?,
            role: if input.ood {
                "ood".into()
            } else {
                "corpus".into()
            },
        });
    }
    let in_domain: Vec<usize> = (0..docs.len()).filter(|&i| !docs[i].1).collect();
    let sources: Vec<&str> = in_domain
        .iter()
        .map(|&i| docs[i].0.source.as_str())
        .collect();
    let assigned = assign(&sources, opts.ratios, opts.seed);
    let mut split_of = vec!["ood"; docs.len()];
    for (k, &i) in in_domain.iter().enumerate() {
        split_of[i] = assigned[k];
    }

    // 2. Concept bank: every sentence once, documents contiguous.
    let mut entries = Vec::with_capacity(docs.len());
    let mut texts: Vec<String> = Vec::new();
    for (index, (d, _)) in docs.iter().enumerate() {
        entries.push(DocumentEntry {
            index,
            id: d.id.clone(),
            title: d.title.clone(),
            source: d.source.clone(),
            split: split_of[index].to_string(),
            start: texts.len(),
            len: d.sentences.len(),
        });
        texts.extend(d.sentences.iter().cloned());
    }
    check_windows(&entries, opts)?;
    Ok(Collected {
        entries,
        texts,
        inputs: input_info,
        empty,
        with_ood: inputs.iter().any(|i| i.ood),
    })
}

/// Builds the dataset in a temporary folder beside `out`, then swaps it into place.
pub fn build(
    inputs: &[BuildInput],
    encoder: &SentenceEncoder,
    opts: &BuildOptions,
    out: &Path,
) -> Result<Manifest> {
    // Held from before the first sentence is embedded until the folder is in place.
    let lock = lock_output(out)?;
    let c = collect(inputs, opts)?;
    let dim = encoder.dim();
    let mut cache = match &opts.cache_dir {
        Some(dir) => Some(EmbeddingCache::open(dir, encoder.fingerprint(), dim)?),
        None => None,
    };
    let started = std::time::Instant::now();
    let (vectors, stats) = encode_with_cache(encoder, cache.as_mut(), &c.texts, &opts.encode)?;
    let secs = started.elapsed().as_secs_f64();
    tracing::info!(
        "embedded {} sentences: {} from the cache, {} encoded in {secs:.1}s{}",
        c.texts.len(),
        stats.hits,
        stats.encoded,
        if stats.encoded > 0 {
            format!(" ({:.0} sentences/s)", stats.encoded as f64 / secs)
        } else {
            String::new()
        }
    );
    finish(&lock, c, encoder, vectors, &stats.truncation, opts)
}

/// `build --shard I/N`: embeds the share of the inputs' distinct sentences that shard `s` owns
/// into its shard file beside `out` ([`lvmkit_encode::shard`]). No lock is taken on `out`: the
/// shards of one output run at once, each writing only its own file.
pub fn build_shard(
    inputs: &[BuildInput],
    encoder: &SentenceEncoder,
    opts: &BuildOptions,
    out: &Path,
    s: Shard,
) -> Result<ShardReport> {
    // What the merge would refuse, refused before the embedding.
    check_replaceable(out)?;
    let c = collect(inputs, opts)?;
    lvmkit_encode::shard::embed_shard(encoder, &c.texts, &c.shard_inputs(), s, out, &opts.encode)
}

/// `build --merge`: the dataset [`build`] writes, with every vector taken from the shards
/// [`build_shard`] wrote (nothing is embedded). `command` is the command line a missing shard
/// is made with, for the message that names it.
pub fn merge(
    inputs: &[BuildInput],
    encoder: &SentenceEncoder,
    opts: &BuildOptions,
    out: &Path,
    command: &str,
) -> Result<(Manifest, Merged)> {
    let lock = lock_output(out)?;
    let c = collect(inputs, opts)?;
    let mut merged =
        lvmkit_encode::shard::merge_shards(encoder, &c.texts, &c.shard_inputs(), out, command)?;
    let vectors = std::mem::take(&mut merged.vectors);
    let m = finish(&lock, c, encoder, vectors, &merged.truncation, opts)?;
    Ok((m, merged))
}

/// Writes the dataset of `c` with its vectors.
fn finish(
    lock: &OutputLock,
    c: Collected,
    encoder: &SentenceEncoder,
    vectors: Vec<f32>,
    truncation: &lvmkit_encode::Truncation,
    opts: &BuildOptions,
) -> Result<Manifest> {
    let encoder_info = EncoderInfo {
        name: encoder.name(),
        path: encoder.folder().root.display().to_string(),
        fingerprint: encoder.fingerprint().to_string(),
        dim: encoder.dim(),
    };
    let truncated = TruncatedTexts::locate(truncation, &c.entries);
    assemble_encoded(
        lock,
        Parts {
            entries: c.entries,
            texts: c.texts,
            vectors,
            dim: encoder.dim(),
            encoder: encoder_info,
            inputs: c.inputs,
            empty: c.empty,
            with_ood: c.with_ood,
        },
        truncated,
        opts,
    )
}

/// Everything a dataset folder is made from.
pub(crate) struct Parts {
    pub entries: Vec<DocumentEntry>,
    pub texts: Vec<String>,
    pub vectors: Vec<f32>,
    pub dim: usize,
    pub encoder: EncoderInfo,
    pub inputs: Vec<InputInfo>,
    pub empty: usize,
    pub with_ood: bool,
}

/// Takes the lock on a dataset folder for the life of the command that writes it (and clears
/// what a killed writer of it left).
/// Refuses, before any work, an output that is someone else's folder.
pub fn lock_output(out: &Path) -> Result<OutputLock> {
    let lock = OutputLock::acquire(out, "dataset")?;
    check_replaceable(out)?;
    Ok(lock)
}

/// An existing `out` may be replaced only if it is an lvmkit dataset (or an empty folder).
fn check_replaceable(out: &Path) -> Result<()> {
    if out.exists() {
        let is_dataset = out.join("manifest.json").exists();
        let is_empty = out
            .read_dir()
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if !out.is_dir() || !(is_dataset || is_empty) {
            bail!(
                "{} exists and is not an lvmkit dataset; refusing to overwrite it (choose another --output)",
                out.display()
            );
        }
    }
    Ok(())
}

/// Refuses splits a model cannot be trained or scored on: no train windows, or no val or test
/// windows (training stops early on val; evaluation reports test). Needs no vectors, so a
/// sharded job checks it before any shard embeds.
fn check_windows(entries: &[DocumentEntry], opts: &BuildOptions) -> Result<()> {
    let c = opts.context;
    let count = |split: &str| -> (usize, usize) {
        entries
            .iter()
            .filter(|e| e.split == split)
            .fold((0, 0), |(docs, w), e| {
                (docs + 1, w + e.len.saturating_sub(c))
            })
    };
    if count("train").1 == 0 {
        bail!(
            "the training split has no windows: no training document has more than {c} sentences (lower --context or add text)"
        );
    }
    for split in ["val", "test"] {
        let (documents, windows) = count(split);
        if windows == 0 {
            bail!(
                "the {split} split has no windows: {documents} document(s), none with more than {c} sentences; \
                 give it a larger share with --split (now {}), lower --context, or add text",
                opts.ratios
            );
        }
    }
    Ok(())
}

/// Cuts the windows, summarises each split and writes the folder `lock` guards.
pub(crate) fn assemble(lock: &OutputLock, parts: Parts, opts: &BuildOptions) -> Result<Manifest> {
    assemble_encoded(lock, parts, TruncatedTexts::default(), opts)
}

/// [`assemble`] for sentences this build embedded, recording those the encoder cut.
fn assemble_encoded(
    lock: &OutputLock,
    parts: Parts,
    truncated: TruncatedTexts,
    opts: &BuildOptions,
) -> Result<Manifest> {
    let Parts {
        entries,
        texts,
        vectors,
        dim,
        encoder,
        inputs,
        empty,
        with_ood,
    } = parts;
    let c = opts.context;
    let splits: Vec<&str> = if with_ood {
        vec!["train", "val", "test", "ood"]
    } else {
        vec!["train", "val", "test"]
    };
    let mut windows: BTreeMap<&str, Vec<i64>> = splits.iter().map(|s| (*s, Vec::new())).collect();
    let mut cos_sums: BTreeMap<&str, (f64, usize)> =
        splits.iter().map(|s| (*s, (0.0, 0))).collect();
    let mut summaries: BTreeMap<String, SplitSummary> = splits
        .iter()
        .map(|s| {
            let empty = SplitSummary {
                documents: 0,
                sentences: 0,
                windows: 0,
                adjacent_cosine: 0.0,
                doc_ids: Vec::new(),
            };
            (s.to_string(), empty)
        })
        .collect();
    for e in &entries {
        let s = e.split.as_str();
        let sum = summaries
            .get_mut(s)
            .expect("split assigned from the fixed list");
        sum.documents += 1;
        sum.sentences += e.len;
        sum.doc_ids.push(e.id.clone());
        let w = windows.get_mut(s).unwrap();
        for target in (e.start + c)..(e.start + e.len) {
            w.extend_from_slice(&[e.index as i64, (target - c) as i64, target as i64]);
        }
        let acc = cos_sums.get_mut(s).unwrap();
        for r in e.start..(e.start + e.len).saturating_sub(1) {
            acc.0 += dot(
                &vectors[r * dim..(r + 1) * dim],
                &vectors[(r + 1) * dim..(r + 2) * dim],
            );
            acc.1 += 1;
        }
    }
    for s in &splits {
        let sum = summaries.get_mut(*s).unwrap();
        sum.windows = windows[s].len() / 3;
        let (total, n) = cos_sums[s];
        sum.adjacent_cosine = if n > 0 { total / n as f64 } else { 0.0 };
    }
    check_windows(&entries, opts)?;
    let manifest = Manifest {
        format_version: FORMAT_VERSION,
        dim,
        context: c,
        encoder,
        seed: opts.seed,
        split_ratios: opts.ratios,
        concepts: texts.len(),
        inputs,
        splits: summaries,
        empty_documents_skipped: empty,
        truncated_texts: truncated,
        created_by: format!("lvmkit {}", env!("CARGO_PKG_VERSION")),
    };
    write_folder(lock, |tmp| {
        lvmkit_io::npy::write(&tmp.join("concepts.npy"), &[texts.len(), dim], &vectors)?;
        lvmkit_io::write_atomic(&tmp.join("concepts.jsonl"), |w| {
            for e in &entries {
                for (pos, text) in texts[e.start..e.start + e.len].iter().enumerate() {
                    serde_json::to_writer(
                        &mut *w,
                        &serde_json::json!({"doc": e.index, "pos": pos, "text": text}),
                    )?;
                    w.write_all(b"\n")?;
                }
            }
            Ok(())
        })?;
        lvmkit_io::write_atomic(&tmp.join("documents.jsonl"), |w| {
            for e in &entries {
                serde_json::to_writer(&mut *w, e)?;
                w.write_all(b"\n")?;
            }
            Ok(())
        })?;
        for (s, w) in &windows {
            lvmkit_io::npy::write(&tmp.join(format!("windows-{s}.npy")), &[w.len() / 3, 3], w)?;
        }
        lvmkit_io::write_json_atomic(&tmp.join("manifest.json"), &manifest)?;
        Ok(())
    })?;
    Ok(manifest)
}

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (*x as f64) * (*y as f64))
        .sum()
}

/// Fills a temporary folder beside the output `lock` guards and renames it into place. An
/// existing output is replaced only if it is an lvmkit dataset (or empty): never someone else's
/// folder. The temporary folder and the old dataset, while it is moved aside, carry the lock's
/// staging names, so the next holder of the lock removes them if this process is killed.
pub fn write_folder(lock: &OutputLock, fill: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let out = lock.output();
    check_replaceable(out)?;
    let parent = lock.parent();
    let tmp = tempfile::Builder::new()
        .prefix(&lock.staging_prefix("new"))
        .tempdir_in(parent)
        .with_context(|| format!("cannot create a temporary folder in {}", parent.display()))?;
    fill(tmp.path())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755))?;
    }
    if !out.exists() {
        return rename_in(&tmp.keep(), out);
    }
    // Old and new swap under staging names: if this process dies between the two renames, the
    // next holder of the lock puts the old dataset back (it is whole: it is renamed once more,
    // away from its `old` name, before it is deleted).
    let pid = std::process::id();
    let old = parent.join(format!("{}{pid}", lock.staging_prefix("old")));
    std::fs::rename(out, &old).with_context(|| format!("cannot move aside {}", out.display()))?;
    let tmp = tmp.keep();
    if let Err(e) = rename_in(&tmp, out) {
        let _ = std::fs::rename(&old, out);
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    let doomed = parent.join(format!("{}old-{pid}", lock.staging_prefix("new")));
    // The new dataset is in place; what of the old one cannot be removed now carries a staging
    // name, and the next writer of this output removes it.
    if std::fs::rename(&old, &doomed).is_ok() {
        let _ = std::fs::remove_dir_all(&doomed);
    }
    Ok(())
}

fn rename_in(tmp: &Path, out: &Path) -> Result<()> {
    std::fs::rename(tmp, out)
        .with_context(|| format!("cannot move the new dataset to {}", out.display()))
}

/// A document whose concept vectors are already known, with its split chosen by the caller.
pub struct VectorDocument {
    pub id: String,
    pub source: String,
    /// train, val, test or ood.
    pub split: String,
    pub texts: Vec<String>,
    /// [texts.len() × dim] row-major.
    pub vectors: Vec<f32>,
}

/// Build a dataset folder from documents that already have vectors and splits (embeddings made
/// elsewhere, or constructed cases in tests). Windows are cut exactly as in [`build`].
pub fn from_vectors(
    out: &Path,
    docs: Vec<VectorDocument>,
    dim: usize,
    context: usize,
    encoder: EncoderInfo,
) -> Result<Manifest> {
    if context == 0 {
        bail!("context must be at least 1");
    }
    let mut entries = Vec::with_capacity(docs.len());
    let mut texts = Vec::new();
    let mut vectors = Vec::new();
    let mut with_ood = false;
    for (index, d) in docs.into_iter().enumerate() {
        if !crate::layout::SPLITS.contains(&d.split.as_str()) {
            bail!("document '{}': unknown split '{}'", d.id, d.split);
        }
        if d.vectors.len() != d.texts.len() * dim {
            bail!(
                "document '{}': {} values for {} texts of dimension {dim}",
                d.id,
                d.vectors.len(),
                d.texts.len()
            );
        }
        with_ood |= d.split == "ood";
        entries.push(DocumentEntry {
            index,
            id: d.id,
            title: String::new(),
            source: d.source,
            split: d.split,
            start: texts.len(),
            len: d.texts.len(),
        });
        texts.extend(d.texts);
        vectors.extend(d.vectors);
    }
    let parts = Parts {
        entries,
        texts,
        vectors,
        dim,
        encoder,
        inputs: Vec::new(),
        empty: 0,
        with_ood,
    };
    let opts = BuildOptions {
        context,
        ratios: SplitRatios::default(),
        seed: 0,
        encode: EncodeOptions::default(),
        cache_dir: None,
    };
    let lock = lock_output(out)?;
    assemble(&lock, parts, &opts)
}
