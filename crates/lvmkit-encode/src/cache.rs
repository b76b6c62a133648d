//! Embeddings remembered by (encoder fingerprint, text hash), so that re-embedding an unchanged
//! corpus does no model work.
//!
//! Layout: `<root>/<fingerprint[..16]>-u/seg-NNNNNN.bin`, append-only segments written atomically,
//! each `b"LVMKITC1" | dim: u32 | count: u64 | count × 16-byte key | count × dim × f32` (little
//! endian). Segments are merged into one when there are many. The cache is derived data: a
//! damaged segment is reported and ignored, never fatal.

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::encoder::{EncodeOptions, SentenceEncoder};
use crate::truncation::Truncation;

const MAGIC: &[u8; 8] = b"LVMKITC1";
const MAX_SEGMENTS: usize = 32;
/// Texts encoded between two cache saves.
const CHUNK: usize = 8192;

pub type Key = [u8; 16];

/// Cache key of a text: the first 16 bytes of its sha256.
pub fn text_key(text: &str) -> Key {
    let d = Sha256::digest(text.as_bytes());
    d[..16].try_into().unwrap()
}

/// What [`encode_with_cache`] did.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct CacheStats {
    /// Texts served from the cache.
    pub hits: usize,
    /// Texts the model had to embed (after removing duplicates).
    pub encoded: usize,
    /// Texts cut to the encoder's token limit, counted over every input text (duplicates
    /// included) whether it was embedded now or served from the cache.
    pub truncation: Truncation,
}

pub struct EmbeddingCache {
    dir: PathBuf,
    dim: usize,
    keys: HashMap<Key, usize>,
    vectors: Vec<f32>,
    segments: Vec<PathBuf>,
}

impl EmbeddingCache {
    /// Opens (or creates) the cache of one encoder under `root`.
    pub fn open(root: &Path, fingerprint: &str, dim: usize) -> Result<Self> {
        // `-u`: embedded in unpadded batches, whose bits do not depend on the batch; a cache
        // written by padded batches (the bare fingerprint) is left alone, never mixed in.
        let dir = root.join(format!("{}-u", &fingerprint[..16.min(fingerprint.len())]));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create cache folder {}", dir.display()))?;
        let mut cache = Self {
            dir,
            dim,
            keys: HashMap::new(),
            vectors: Vec::new(),
            segments: Vec::new(),
        };
        let mut names: Vec<PathBuf> = std::fs::read_dir(&cache.dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("seg-") && n.ends_with(".bin"))
            })
            .collect();
        names.sort();
        for path in names {
            match cache.load_segment(&path) {
                Ok(()) => cache.segments.push(path),
                Err(e) => tracing::warn!("ignoring damaged embedding-cache segment: {e:#}"),
            }
        }
        Ok(cache)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn get(&self, key: &Key) -> Option<&[f32]> {
        self.keys
            .get(key)
            .map(|&r| &self.vectors[r * self.dim..(r + 1) * self.dim])
    }

    fn load_segment(&mut self, path: &Path) -> Result<()> {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        anyhow::ensure!(
            bytes.len() >= 20 && &bytes[..8] == MAGIC,
            "{}: not a cache segment",
            path.display()
        );
        let dim = u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize;
        let count = u64::from_le_bytes(bytes[12..20].try_into().unwrap()) as usize;
        anyhow::ensure!(
            dim == self.dim,
            "{}: dimension {dim}, expected {}",
            path.display(),
            self.dim
        );
        let need = 20 + count * 16 + count * dim * 4;
        anyhow::ensure!(
            bytes.len() == need,
            "{}: {} bytes, expected {need}",
            path.display(),
            bytes.len()
        );
        let (keys, vecs) = bytes[20..].split_at(count * 16);
        for (k, v) in keys.chunks_exact(16).zip(vecs.chunks_exact(dim * 4)) {
            let row = self.vectors.len() / dim;
            self.vectors.extend(
                v.chunks_exact(4)
                    .map(|c| f32::from_le_bytes(c.try_into().unwrap())),
            );
            self.keys.insert(k.try_into().unwrap(), row);
        }
        Ok(())
    }

    /// Adds embeddings (N keys, N×dim values) and persists them as a new segment.
    pub fn insert(&mut self, keys: &[Key], vectors: &[f32]) -> Result<()> {
        anyhow::ensure!(
            vectors.len() == keys.len() * self.dim,
            "cache insert: shape mismatch"
        );
        if keys.is_empty() {
            return Ok(());
        }
        for (k, v) in keys.iter().zip(vectors.chunks_exact(self.dim)) {
            if !self.keys.contains_key(k) {
                let row = self.vectors.len() / self.dim;
                self.vectors.extend_from_slice(v);
                self.keys.insert(*k, row);
            }
        }
        if self.segments.len() + 1 > MAX_SEGMENTS {
            self.compact()
        } else {
            let path = self
                .dir
                .join(format!("seg-{:06}.bin", self.next_segment_number()));
            write_segment(&path, self.dim, keys, vectors)?;
            self.segments.push(path);
            Ok(())
        }
    }

    fn next_segment_number(&self) -> usize {
        self.segments
            .iter()
            .filter_map(|p| {
                p.file_stem()?
                    .to_str()?
                    .strip_prefix("seg-")?
                    .parse::<usize>()
                    .ok()
            })
            .max()
            .map_or(0, |n| n + 1)
    }

    /// Rewrites every entry into one segment, then removes the old ones.
    fn compact(&mut self) -> Result<()> {
        let mut keys: Vec<(Key, usize)> = self.keys.iter().map(|(k, &r)| (*k, r)).collect();
        keys.sort_by_key(|&(_, r)| r);
        let ks: Vec<Key> = keys.iter().map(|(k, _)| *k).collect();
        let mut vs = Vec::with_capacity(ks.len() * self.dim);
        for (_, r) in &keys {
            vs.extend_from_slice(&self.vectors[r * self.dim..(r + 1) * self.dim]);
        }
        let path = self
            .dir
            .join(format!("seg-{:06}.bin", self.next_segment_number()));
        write_segment(&path, self.dim, &ks, &vs)?;
        for old in std::mem::take(&mut self.segments) {
            let _ = std::fs::remove_file(old);
        }
        self.segments.push(path);
        Ok(())
    }
}

fn write_segment(path: &Path, dim: usize, keys: &[Key], vectors: &[f32]) -> Result<()> {
    lvmkit_io::write_atomic(path, |w| {
        w.write_all(MAGIC)?;
        w.write_all(&(dim as u32).to_le_bytes())?;
        w.write_all(&(keys.len() as u64).to_le_bytes())?;
        for k in keys {
            w.write_all(k)?;
        }
        for v in vectors {
            w.write_all(&v.to_le_bytes())?;
        }
        Ok(())
    })
}

/// Embeds `texts` (N×D out, in order), taking what it can from `cache` and encoding only the
/// rest, each distinct text once; new embeddings are added to the cache. Texts served from the
/// cache are tokenised (not embedded) to count those the token limit cuts, so the count is the
/// same however many were cached.
pub fn encode_with_cache(
    encoder: &SentenceEncoder,
    cache: Option<&mut EmbeddingCache>,
    texts: &[String],
    opts: &EncodeOptions,
) -> Result<(Vec<f32>, CacheStats)> {
    let dim = encoder.dim();
    let limit = encoder.token_limit();
    let Some(cache) = cache else {
        let bar = crate::encoder::progress_bar(texts.len(), opts.progress);
        let (v, counts) = encoder.encode_counting(texts, opts, &bar)?;
        bar.finish_and_clear();
        return Ok((
            v,
            CacheStats {
                hits: 0,
                encoded: texts.len(),
                truncation: Truncation::of(&counts, limit),
            },
        ));
    };
    anyhow::ensure!(
        cache.dim == dim,
        "embedding cache {} holds {}-D vectors but the encoder makes {dim}-D ones",
        cache.dir.display(),
        cache.dim
    );
    let keys: Vec<Key> = texts.iter().map(|t| text_key(t)).collect();
    let mut todo_keys: Vec<Key> = Vec::new();
    let mut todo_texts: Vec<String> = Vec::new();
    let mut hit_keys: Vec<Key> = Vec::new();
    let mut hit_texts: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut hits = 0;
    for (k, t) in keys.iter().zip(texts) {
        let cached = cache.get(k).is_some();
        hits += cached as usize;
        if !seen.insert(*k) {
            continue;
        }
        if cached {
            hit_keys.push(*k);
            hit_texts.push(t.clone());
        } else {
            todo_keys.push(*k);
            todo_texts.push(t.clone());
        }
    }
    // Token counts by key: cached texts tokenised now, the others as they are encoded.
    let mut token_counts: HashMap<Key, usize> = hit_keys
        .into_iter()
        .zip(encoder.token_counts(&hit_texts)?)
        .collect();
    // Encode in chunks, saving each to the cache: an interrupted job keeps what it finished.
    let bar = crate::encoder::progress_bar(todo_texts.len(), opts.progress);
    let started = std::time::Instant::now();
    let mut done = 0;
    for (texts_chunk, keys_chunk) in todo_texts.chunks(CHUNK).zip(todo_keys.chunks(CHUNK)) {
        let (fresh, counts) = encoder.encode_counting(texts_chunk, opts, &bar)?;
        cache.insert(keys_chunk, &fresh)?;
        token_counts.extend(keys_chunk.iter().copied().zip(counts));
        done += texts_chunk.len();
        if opts.progress && bar.is_hidden() && done < todo_texts.len() {
            // No terminal to draw a bar on (a log file, CI): say how far it got instead.
            let rate = done as f64 / started.elapsed().as_secs_f64();
            tracing::info!(
                "encoded {done}/{} sentences ({rate:.0}/s, about {:.0} min left)",
                todo_texts.len(),
                (todo_texts.len() - done) as f64 / rate / 60.0
            );
        }
    }
    bar.finish_and_clear();
    let mut out = Vec::with_capacity(texts.len() * dim);
    for k in &keys {
        out.extend_from_slice(cache.get(k).expect("every key was just cached"));
    }
    let counts: Vec<usize> = keys.iter().map(|k| token_counts[k]).collect();
    Ok((
        out,
        CacheStats {
            hits,
            encoded: todo_texts.len(),
            truncation: Truncation::of(&counts, limit),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_persist_and_compact() {
        let dir = tempfile::tempdir().unwrap();
        let fp = "0123456789abcdef0123";
        {
            let mut c = EmbeddingCache::open(dir.path(), fp, 2).unwrap();
            for i in 0..(MAX_SEGMENTS + 3) {
                let k = text_key(&i.to_string());
                c.insert(&[k], &[i as f32, 1.0]).unwrap();
            }
            assert!(c.segments.len() <= MAX_SEGMENTS);
        }
        let c = EmbeddingCache::open(dir.path(), fp, 2).unwrap();
        assert_eq!(c.len(), MAX_SEGMENTS + 3);
        assert_eq!(c.get(&text_key("7")).unwrap(), &[7.0, 1.0]);
        // a damaged segment is ignored, not fatal
        std::fs::write(c.dir().join("seg-999999.bin"), b"garbage").unwrap();
        assert_eq!(
            EmbeddingCache::open(dir.path(), fp, 2).unwrap().len(),
            MAX_SEGMENTS + 3
        );
    }
}
