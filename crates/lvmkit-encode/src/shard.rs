//! Embedding split into independent shards, for a cluster: shard `I/N` embeds the distinct texts
//! whose stable hash falls in bucket `I` and writes them to its own file; the merge reads the
//! `N` files and puts every text's vector back in input order.
//!
//! - **Which texts a shard owns**: the first 8 bytes of the text's sha256 (its cache key),
//!   modulo `N`. A text's shard depends on nothing but the text and `N`, so adding a corpus adds
//!   texts to shards without moving any other.
//! - **Where shards go**: `<output>.shards/shard-IIIII-of-NNNNN.safetensors` beside the output,
//!   written atomically. Tensors `keys` (u8 [n, 16]), `vectors` (f32 [n, dim]) and `tokens`
//!   (u32 [n]: each text's token count before the encoder's cut); the `lvmkit` metadata names
//!   the shard, the encoder and the inputs.
//! - **What the merge refuses**: a missing shard (named, with the command that makes it),
//!   shards of another count beside this one's, and foreign ones: another encoder, other
//!   inputs, or texts that are not exactly the ones the inputs give that shard.
//!
//! The vectors are those of [`SentenceEncoder::encode_counting`], which gives a text the same
//! bits whatever other texts share its batch (tested in `tests/batch_invariance.rs`), so a
//! merged output is byte for byte the unsharded one.

use anyhow::{bail, ensure, Context, Result};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::cache::{text_key, Key};
use crate::encoder::{EncodeOptions, SentenceEncoder};
use crate::truncation::Truncation;

const FORMAT: &str = "lvmkit-shard-1";

/// `I/N`: shard `I` (from 0) of `N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let bad = || format!("'{s}' is not a shard: expected I/N with 0 <= I < N, e.g. 0/8");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count): (usize, usize) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// Whether this shard owns the text with cache key `key`.
    pub fn owns(&self, key: &Key) -> bool {
        bucket(key, self.count) == self.index
    }
}

/// The shard (of `count`) that owns the text with cache key `key`.
pub fn bucket(key: &Key, count: usize) -> usize {
    (u64::from_le_bytes(key[..8].try_into().unwrap()) % count as u64) as usize
}

/// One input file a sharded job reads, as the shards and the merge identify it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardInput {
    pub path: String,
    pub sha256: String,
    pub role: String,
}

/// The folder where the shards of `output` go: `<output>.shards` beside it.
pub fn shard_dir(output: &Path) -> PathBuf {
    let mut name = output
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "output".into());
    name.push(".shards");
    output.with_file_name(name)
}

/// The file of shard `s` of `output`.
pub fn shard_path(output: &Path, s: Shard) -> PathBuf {
    shard_dir(output).join(format!(
        "shard-{:05}-of-{:05}.safetensors",
        s.index, s.count
    ))
}

/// What [`embed_shard`] did.
#[derive(Debug, Clone)]
pub struct ShardReport {
    pub path: PathBuf,
    /// Distinct texts of the inputs.
    pub distinct: usize,
    /// Of them, those this shard owns (all embedded now).
    pub embedded: usize,
    pub seconds: f64,
}

/// The lvmkit metadata of a shard file.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Meta {
    format: String,
    shard: String,
    encoder: String,
    encoder_fingerprint: String,
    dim: usize,
    texts: usize,
    inputs: Vec<ShardInput>,
    /// The CPU model that embedded it: matrix products block their sums by the CPU's cache
    /// sizes, so other CPU models may give other last bits.
    cpu: String,
}

impl Meta {
    fn to_map(&self) -> BTreeMap<String, String> {
        let v = serde_json::to_value(self).expect("plain fields");
        v.as_object()
            .expect("a struct")
            .iter()
            .map(|(k, v)| {
                let s = match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), s)
            })
            .collect()
    }

    fn from_map(m: &BTreeMap<String, String>) -> Result<Self> {
        let get = |k: &str| {
            m.get(k)
                .with_context(|| format!("no '{k}' in its metadata"))
        };
        Ok(Self {
            format: get("format")?.clone(),
            shard: get("shard")?.clone(),
            encoder: get("encoder")?.clone(),
            encoder_fingerprint: get("encoder_fingerprint")?.clone(),
            dim: get("dim")?.parse().context("'dim' is not a number")?,
            texts: get("texts")?.parse().context("'texts' is not a number")?,
            inputs: serde_json::from_str(get("inputs")?).context("'inputs' is not a list")?,
            cpu: m.get("cpu").cloned().unwrap_or_default(),
        })
    }
}

/// This machine's CPU model (`model name` of /proc/cpuinfo), or "unknown".
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                l.strip_prefix("model name")?
                    .split_once(':')
                    .map(|(_, v)| v.trim().to_string())
            })
        })
        .unwrap_or_else(|| "unknown".into())
}

/// Distinct texts of `texts` with their keys, in first-occurrence order.
fn distinct(texts: &[String]) -> (Vec<Key>, Vec<&String>) {
    let mut seen = HashSet::new();
    let mut keys = Vec::new();
    let mut out = Vec::new();
    for t in texts {
        let k = text_key(t);
        if seen.insert(k) {
            keys.push(k);
            out.push(t);
        }
    }
    (keys, out)
}

/// Embeds the distinct texts of `texts` that shard `s` owns and writes them to
/// [`shard_path`]`(output, s)`. Re-running a shard rewrites its file whole.
pub fn embed_shard(
    encoder: &SentenceEncoder,
    texts: &[String],
    inputs: &[ShardInput],
    s: Shard,
    output: &Path,
    opts: &EncodeOptions,
) -> Result<ShardReport> {
    let started = std::time::Instant::now();
    let (keys, all) = distinct(texts);
    let (mine_keys, mine): (Vec<Key>, Vec<String>) = keys
        .iter()
        .zip(&all)
        .filter(|(k, _)| s.owns(k))
        .map(|(k, t)| (*k, (*t).clone()))
        .unzip();
    let bar = crate::encoder::progress_bar(mine.len(), opts.progress);
    let (vectors, tokens) = encoder.encode_counting(&mine, opts, &bar)?;
    bar.finish_and_clear();
    let meta = Meta {
        format: FORMAT.into(),
        shard: s.to_string(),
        encoder: encoder.name(),
        encoder_fingerprint: encoder.fingerprint().into(),
        dim: encoder.dim(),
        texts: mine.len(),
        inputs: inputs.to_vec(),
        cpu: cpu_model(),
    };
    let path = shard_path(output, s);
    let dir = shard_dir(output);
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create the shard folder {}", dir.display()))?;
    let key_bytes: Vec<u8> = mine_keys.concat();
    let vec_bytes: Vec<u8> = vectors.iter().flat_map(|v| v.to_le_bytes()).collect();
    let tok_bytes: Vec<u8> = tokens
        .iter()
        .flat_map(|&n| (n as u32).to_le_bytes())
        .collect();
    let n = mine.len();
    let tensors = [
        ("keys", TensorView::new(Dtype::U8, vec![n, 16], &key_bytes)?),
        (
            "vectors",
            TensorView::new(Dtype::F32, vec![n, encoder.dim()], &vec_bytes)?,
        ),
        ("tokens", TensorView::new(Dtype::U32, vec![n], &tok_bytes)?),
    ];
    lvmkit_io::safetensors::write(&path, tensors, &meta.to_map())?;
    Ok(ShardReport {
        path,
        distinct: all.len(),
        embedded: n,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// What [`merge_shards`] gives back.
#[derive(Debug, Clone)]
pub struct Merged {
    /// One vector per input text, [texts, dim], in input order.
    pub vectors: Vec<f32>,
    /// Texts the encoder cut, counted over every input text (as the unsharded path counts).
    pub truncation: Truncation,
    /// How many shards were merged.
    pub shards: usize,
    pub dir: PathBuf,
}

/// A shard file, read and checked against the encoder and inputs the merge was given.
struct ShardFile {
    cpu: String,
    keys: Vec<Key>,
    vectors: Vec<f32>,
    tokens: Vec<u32>,
}

fn read_shard(
    path: &Path,
    s: Shard,
    encoder: &SentenceEncoder,
    inputs: &[ShardInput],
) -> Result<ShardFile> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let meta = lvmkit_io::safetensors::metadata(&bytes)
        .and_then(|m| m.context("no lvmkit metadata"))
        .and_then(|m| Meta::from_map(&m))
        .with_context(|| format!("{} is not an lvmkit shard", path.display()))?;
    ensure!(
        meta.format == FORMAT,
        "{}: shard format '{}', expected '{FORMAT}'",
        path.display(),
        meta.format
    );
    ensure!(
        meta.shard == s.to_string(),
        "{} says it is shard {}, not {s}: it was renamed or copied; re-run shard {s}",
        path.display(),
        meta.shard
    );
    if meta.encoder_fingerprint != encoder.fingerprint() {
        bail!(
            "{} is foreign: it was embedded by encoder {} (fingerprint {}), not {} ({}); re-run shard {s} with this encoder",
            path.display(),
            meta.encoder,
            &meta.encoder_fingerprint[..16.min(meta.encoder_fingerprint.len())],
            encoder.name(),
            &encoder.fingerprint()[..16]
        );
    }
    let ident = |i: &[ShardInput]| -> Vec<(String, String)> {
        i.iter()
            .map(|x| (x.sha256.clone(), x.role.clone()))
            .collect()
    };
    if ident(&meta.inputs) != ident(inputs) {
        let list = |i: &[ShardInput]| {
            i.iter()
                .map(|x| format!("{} ({}, sha256 {})", x.path, x.role, &x.sha256[..12]))
                .collect::<Vec<_>>()
                .join(", ")
        };
        bail!(
            "{} is foreign: it was made from other inputs ({}) than these ({}); re-run shard {s} with these inputs",
            path.display(),
            list(&meta.inputs),
            list(inputs)
        );
    }
    let st = SafeTensors::deserialize(&bytes)
        .with_context(|| format!("{} is damaged; re-run shard {s}", path.display()))?;
    let tensor = |name: &str, dtype: Dtype, shape: Vec<usize>| -> Result<Vec<u8>> {
        let t = st
            .tensor(name)
            .with_context(|| format!("{}: no '{name}' tensor; re-run shard {s}", path.display()))?;
        ensure!(
            t.dtype() == dtype && t.shape() == shape.as_slice(),
            "{}: '{name}' is {:?} {:?}, expected {dtype:?} {shape:?}; re-run shard {s}",
            path.display(),
            t.dtype(),
            t.shape()
        );
        Ok(t.data().to_vec())
    };
    let n = meta.texts;
    let keys = tensor("keys", Dtype::U8, vec![n, 16])?
        .chunks_exact(16)
        .map(|k| k.try_into().unwrap())
        .collect();
    let vectors = tensor("vectors", Dtype::F32, vec![n, encoder.dim()])?
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    let tokens = tensor("tokens", Dtype::U32, vec![n])?
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    Ok(ShardFile {
        cpu: meta.cpu,
        keys,
        vectors,
        tokens,
    })
}

/// The shard count of the files in `dir`, refusing a folder that holds shards of two counts.
fn shard_count(dir: &Path) -> Result<usize> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "no shards to merge: {} does not exist; run the command with --shard I/N for every I first",
            dir.display()
        ),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
    };
    let mut counts: BTreeMap<usize, usize> = BTreeMap::new();
    for e in entries {
        let name = e?.file_name();
        let name = name.to_string_lossy();
        let count = name
            .strip_prefix("shard-")
            .and_then(|r| r.strip_suffix(".safetensors"))
            .and_then(|r| r.split_once("-of-"))
            .and_then(|(_, n)| n.parse::<usize>().ok());
        if let Some(n) = count {
            *counts.entry(n).or_default() += 1;
        }
    }
    match counts.len() {
        0 => bail!(
            "no shards to merge in {}; run the command with --shard I/N for every I first",
            dir.display()
        ),
        1 => Ok(*counts.keys().next().unwrap()),
        _ => bail!(
            "{} holds shards of {} different counts ({}); remove the files of the runs you do not mean to merge",
            dir.display(),
            counts.len(),
            counts
                .iter()
                .map(|(n, files)| format!("{files} file(s) of N={n}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Reads the shards of `output` and returns every text's vector in input order. `command`
/// is the command a missing shard is made with (`--shard I/N` is appended to it in messages).
pub fn merge_shards(
    encoder: &SentenceEncoder,
    texts: &[String],
    inputs: &[ShardInput],
    output: &Path,
    command: &str,
) -> Result<Merged> {
    let dir = shard_dir(output);
    let count = shard_count(&dir)?;
    let missing: Vec<String> = (0..count)
        .map(|index| Shard { index, count })
        .filter(|&s| !shard_path(output, s).exists())
        .map(|s| s.to_string())
        .collect();
    if !missing.is_empty() {
        bail!(
            "cannot merge: {} of {count} shards missing in {}: {}; make each with `{command} --shard I/N`",
            missing.len(),
            dir.display(),
            missing.join(", ")
        );
    }
    let keys: Vec<Key> = texts.iter().map(|t| text_key(t)).collect();
    let mut expected: Vec<HashSet<Key>> = vec![HashSet::new(); count];
    for k in &keys {
        expected[bucket(k, count)].insert(*k);
    }
    let dim = encoder.dim();
    // key → (vector, tokens), filled shard by shard.
    let mut found: HashMap<Key, (usize, usize)> = HashMap::with_capacity(keys.len());
    let mut files = Vec::with_capacity(count);
    for (index, want) in expected.iter().enumerate() {
        let s = Shard { index, count };
        let path = shard_path(output, s);
        let f = read_shard(&path, s, encoder, inputs)?;
        let extra = f.keys.iter().filter(|k| !want.contains(*k)).count();
        let unique: HashSet<&Key> = f.keys.iter().collect();
        if extra > 0 || unique.len() != want.len() || unique.len() != f.keys.len() {
            bail!(
                "{} is foreign: it holds {} sentences, {extra} of them not in these inputs' shard {s}, which has {}; re-run shard {s}",
                path.display(),
                f.keys.len(),
                want.len()
            );
        }
        for (row, k) in f.keys.iter().enumerate() {
            found.insert(*k, (files.len(), row));
        }
        files.push(f);
    }
    let mut cpus: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, f) in files.iter().enumerate() {
        cpus.entry(f.cpu.as_str()).or_default().push(i);
    }
    if cpus.len() > 1 {
        tracing::warn!(
            "the shards were embedded on {} CPU models ({}): matrix products block their sums by the cache sizes, so vectors may differ in their last bits from a one-process run on any one of them",
            cpus.len(),
            cpus.iter()
                .map(|(cpu, shards)| format!("{cpu}: shards {shards:?}"))
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
    let mut vectors = Vec::with_capacity(texts.len() * dim);
    let mut tokens = Vec::with_capacity(texts.len());
    for k in &keys {
        let &(f, row) = found.get(k).expect("every shard holds exactly its keys");
        vectors.extend_from_slice(&files[f].vectors[row * dim..(row + 1) * dim]);
        tokens.push(files[f].tokens[row] as usize);
    }
    Ok(Merged {
        vectors,
        truncation: Truncation::of(&tokens, encoder.token_limit()),
        shards: count,
        dir,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_and_own_a_stable_share() {
        assert_eq!(
            "2/8".parse::<Shard>().unwrap(),
            Shard { index: 2, count: 8 }
        );
        for bad in ["8/8", "1/0", "x/2", "3", "-1/4"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        // Every text lands in exactly one shard, and its shard is the same tomorrow.
        let texts: Vec<String> = (0..1000).map(|i| format!("sentence {i}")).collect();
        let mut per = [0usize; 4];
        for t in &texts {
            let owners: Vec<usize> = (0..4)
                .filter(|&index| Shard { index, count: 4 }.owns(&text_key(t)))
                .collect();
            assert_eq!(owners.len(), 1);
            per[owners[0]] += 1;
        }
        assert!(per.iter().all(|&n| n > 200), "{per:?}");
        // Pinned: the first 8 bytes of sha256("The cat sat."), little endian, modulo 1000
        // (Python: int.from_bytes(hashlib.sha256(b"The cat sat.").digest()[:8], "little") % 1000).
        assert_eq!(bucket(&text_key("The cat sat."), 1000), 836);
        assert_eq!(
            shard_path(
                Path::new("/x/data"),
                Shard {
                    index: 3,
                    count: 16
                }
            ),
            Path::new("/x/data.shards/shard-00003-of-00016.safetensors")
        );
    }
}
