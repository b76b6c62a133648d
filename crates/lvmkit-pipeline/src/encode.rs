//! The encoder as the pipeline uses it: loaded once per command, with its embedding cache, and
//! a text file embedded into an `.npy`.

use anyhow::{bail, Result};
use lvmkit_encode::shard::{embed_shard, merge_shards, ShardReport};
use lvmkit_encode::{
    encode_with_cache, EmbeddingCache, EncodeOptions, SentenceEncoder, Shard, ShardInput,
    Truncation,
};
use lvmkit_sources::DataDir;
use std::path::Path;
use std::time::Instant;

/// Loads a sentence-transformers folder, logging its dimension and load time.
pub fn load_encoder(dir: &Path) -> Result<SentenceEncoder> {
    let t = Instant::now();
    let enc = SentenceEncoder::load(dir)?;
    tracing::info!(
        "encoder {} ({}-D, {:?} backbone) loaded in {:.1}s",
        dir.display(),
        enc.dim(),
        enc.folder().kind,
        t.elapsed().as_secs_f64()
    );
    Ok(enc)
}

/// The data folder's embedding cache for `enc`'s vectors.
pub fn embedding_cache(data: &DataDir, enc: &SentenceEncoder) -> Result<EmbeddingCache> {
    EmbeddingCache::open(&data.embedding_cache(), enc.fingerprint(), enc.dim())
}

/// What [`encode_file`] did.
#[derive(Debug, Clone)]
pub struct EncodedFile {
    pub rows: usize,
    pub dim: usize,
    /// Rows taken from the cache.
    pub from_cache: usize,
    /// Rows run through the encoder.
    pub encoded: usize,
    /// Texts cut to the encoder's token limit (`longest_index` is a row, so a line from 0):
    /// the same whether their rows came from the cache or the encoder.
    pub truncation: Truncation,
    pub seconds: f64,
}

/// Lines of `input` that are empty or blank (they are still encoded, so rows stay aligned
/// with lines).
pub fn blank_lines(texts: &[String]) -> usize {
    texts.iter().filter(|t| t.trim().is_empty()).count()
}

/// Refuses, before any work, no texts or an output that cannot be written.
fn check_job(texts: &[String], output: &Path) -> Result<()> {
    if texts.is_empty() {
        bail!("no lines to encode");
    }
    lvmkit_io::atomic::check_output_file(output)
}

/// The options of embedding `texts` into `output`, once both are known to be usable.
fn encode_options(texts: &[String], output: &Path, batch_size: usize) -> Result<EncodeOptions> {
    check_job(texts, output)?;
    Ok(EncodeOptions {
        batch_size,
        progress: true,
        ..Default::default()
    })
}

/// `lvmkit encode`: embeds `texts` (one per row) through the cache and writes an f32 `.npy`
/// of shape [texts, D] atomically.
pub fn encode_file(
    texts: &[String],
    output: &Path,
    enc: &SentenceEncoder,
    cache: Option<&mut EmbeddingCache>,
    batch_size: usize,
) -> Result<EncodedFile> {
    let opts = encode_options(texts, output, batch_size)?;
    let t = Instant::now();
    let (vectors, stats) = encode_with_cache(enc, cache, texts, &opts)?;
    let seconds = t.elapsed().as_secs_f64();
    lvmkit_io::npy::write(output, &[texts.len(), enc.dim()], &vectors)?;
    Ok(EncodedFile {
        rows: texts.len(),
        dim: enc.dim(),
        from_cache: stats.hits,
        encoded: stats.encoded,
        truncation: stats.truncation,
        seconds,
    })
}

/// The input of a sharded `lvmkit encode`, as its shards and merge identify it.
fn lines_input(input: &Path) -> Result<Vec<ShardInput>> {
    Ok(vec![ShardInput {
        path: input.display().to_string(),
        sha256: lvmkit_io::hash::sha256_file(input)?,
        role: "lines".into(),
    }])
}

/// `lvmkit encode --shard I/N`: embeds the distinct lines of `input` that shard `shard` owns
/// into its file beside `output`.
pub fn encode_shard(
    texts: &[String],
    input: &Path,
    output: &Path,
    enc: &SentenceEncoder,
    shard: Shard,
    batch_size: usize,
) -> Result<ShardReport> {
    // What the merge would refuse, refused before the embedding.
    let opts = encode_options(texts, output, batch_size)?;
    embed_shard(enc, texts, &lines_input(input)?, shard, output, &opts)
}

/// `lvmkit encode --merge`: the `.npy` [`encode_file`] writes, from the shards beside
/// `output` (nothing is embedded). `command` makes a missing shard, for the refusal.
pub fn merge_file(
    texts: &[String],
    input: &Path,
    output: &Path,
    enc: &SentenceEncoder,
    command: &str,
) -> Result<(EncodedFile, usize)> {
    check_job(texts, output)?;
    let t = Instant::now();
    let merged = merge_shards(enc, texts, &lines_input(input)?, output, command)?;
    lvmkit_io::npy::write(output, &[texts.len(), enc.dim()], &merged.vectors)?;
    Ok((
        EncodedFile {
            rows: texts.len(),
            dim: enc.dim(),
            from_cache: 0,
            encoded: 0,
            truncation: merged.truncation,
            seconds: t.elapsed().as_secs_f64(),
        },
        merged.shards,
    ))
}
