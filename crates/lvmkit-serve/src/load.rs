//! What a server serves, opened from folders: runs (through `RunDir::load_best`, the same code
//! that training and `lvmkit predict` use), the concept bank of their dataset, and the encoder
//! that dataset was embedded with, or the one the user names, or none.

use crate::ServedModel;
use anyhow::{Context, Result};
use lvmkit_encode::SentenceEncoder;
use lvmkit_index::{ConceptBank, PgOptions};
use lvmkit_train::RunDir;
use std::path::{Path, PathBuf};

/// `[NAME=]RUN`: a run folder, optionally named (otherwise the folder's name is used).
pub fn parse_run(spec: &str) -> (Option<String>, PathBuf) {
    match spec.split_once('=') {
        Some((name, path)) if !name.is_empty() && !name.contains('/') => {
            (Some(name.to_string()), PathBuf::from(path))
        }
        _ => (None, PathBuf::from(spec)),
    }
}

/// Opens the run of `spec` (`[NAME=]RUN`).
pub fn open_run(spec: &str) -> Result<ServedModel> {
    let (name, dir) = parse_run(spec);
    let rd = RunDir::new(&dir);
    let (config, model) = rd
        .load_best()
        .with_context(|| format!("cannot serve run {}", dir.display()))?;
    let name = name.unwrap_or_else(|| {
        dir.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| config.model.arch.name().to_string())
    });
    let best_val_cosine = rd.read_history().ok().map(|h| h.best_val_cosine);
    tracing::info!(
        "model {name}: {} ({} parameters) from {}",
        config.model.arch.name(),
        config.params,
        dir.display()
    );
    Ok(ServedModel {
        name,
        run_dir: dir,
        config,
        model,
        best_val_cosine,
    })
}

/// The bank of dataset `data`, or of the first model's dataset; with `postgres`, searched
/// approximately in the PostgreSQL table `lvmkit index --backend postgres` loaded from it.
pub fn open_bank(
    data: Option<&Path>,
    first: &ServedModel,
    postgres: Option<&PgOptions>,
) -> Result<ConceptBank> {
    let data = data.map_or_else(|| PathBuf::from(&first.config.data.path), Path::to_path_buf);
    let bank = match postgres {
        None => ConceptBank::open(&data),
        Some(pg) => ConceptBank::open_postgres(&data, pg),
    };
    let bank = bank.with_context(|| {
        lvmkit_io::setting_error(
            if postgres.is_some() { "bank" } else { "data" },
            format!("cannot open the concept bank {}", data.display()),
        )
    })?;
    if let Some(a) = bank.approximate() {
        tracing::info!("bank: {} concepts, {} index", bank.len(), a.name());
    } else {
        tracing::warn!(
            "bank: {} concepts, exact search only; `lvmkit index --data {}` builds the HNSW index",
            bank.len(),
            data.display()
        );
    }
    Ok(bank)
}

/// The encoder in `dir` (the user's choice), or the one the bank's dataset names, or none
/// when neither names one (a dataset built from vectors, e.g. by `lvmkit import-npz`): the
/// server then takes vectors only. Logs which, and why.
pub fn open_encoder(dir: Option<&Path>, bank: &ConceptBank) -> Result<Option<SentenceEncoder>> {
    let ds = &bank.dataset().manifest.encoder;
    let data = bank.dataset_dir.display();
    let load = |dir: &Path| {
        SentenceEncoder::load(dir).with_context(|| {
            lvmkit_io::setting_error(
                "encoder",
                format!("loading the encoder from {}", dir.display()),
            )
        })
    };
    match dir {
        Some(dir) => {
            let enc = load(dir)?;
            if ds.fingerprint.is_empty() {
                tracing::warn!(
                    "encoder {} ({}-D) from {}, named by --encoder: the dataset {data} names none \
                     (encoder: {}), so only its dimension can be checked",
                    enc.name(),
                    enc.dim(),
                    dir.display(),
                    ds.name
                );
            } else {
                tracing::info!(
                    "encoder {} from {}, named by --encoder rather than the dataset (which names \
                     {})",
                    enc.name(),
                    dir.display(),
                    ds.name
                );
            }
            Ok(Some(enc))
        }
        None if ds.path.is_empty() => {
            tracing::warn!(
                "no encoder: the dataset {data} names none (encoder: {}); text input is refused, \
                 vectors are accepted; pass --encoder DIR to accept text",
                ds.name
            );
            Ok(None)
        }
        None => {
            let enc = load(Path::new(&ds.path))?;
            tracing::info!(
                "encoder {} from {}, as the dataset names",
                enc.name(),
                ds.path
            );
            Ok(Some(enc))
        }
    }
}
