//! `lvmkit`: one binary for latent vector models. Each command parses its flags, calls the
//! library that does the work (mostly `lvmkit-pipeline`) and prints what happened.
//!
//! - `cli`: the command tree and the flags several commands share.
//! - `corpus`: fetch, ingest, encode, dataset, npz import and export.
//! - `train`: commands on one run: train, eval, predict.
//! - `decoder`: the inversion decoder: train, eval, decode.
//! - `jobs`: the main job, the leaderboard and the model list, and the printer that shows a
//!   job's progress.
//! - `bench`: the speed benchmarks.
//! - `serve`: the bank's index and the HTTP server.
//! - `graphmert`: GraphMERT on the Gene Ontology.

mod bench;
mod cli;
mod corpus;
mod decoder;
mod graphmert;
mod jobs;
mod serve;
mod train;

use std::io::IsTerminal;

// Tensors are allocated and freed by the thousand per batch; glibc hands large ones back to the
// kernel each time, so every batch paid page faults and page zeroing (~8% of encoding time in
// `perf`). mimalloc keeps them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc v2's `mimalloc.h` (libmimalloc-sys names no constant).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() {
    // candle runs element-wise ops on its own barrier pool, which takes a lock per op; with
    // batches already running in parallel the two contend. Measured on 2 cores, STS-B test
    // sentences (`lvmkit bench encode`): 301 sentences/s with the pool, 335 without. Training
    // the MLP (`lvmkit train`, default data, one epoch) is no faster with 2: 2617 samples/s
    // against 2779 with 1. A user who sets the variable keeps their choice. Set before any
    // thread exists.
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
    // mimalloc gives freed memory back to the kernel 10 ms later (its purge delay), and a
    // training step frees and re-allocates the same large tensors every few milliseconds: each
    // step paid page faults and page zeroing again (`clear_page_rep`, 3–7% of a step in `perf`
    // on `step_profile transformer 32`). Keep it: the peak is unchanged, the process just does
    // not shrink after it. MIMALLOC_PURGE_DELAY, when set, is the user's choice.
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets an integer option; mimalloc reads options atomically.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    }
    let cli = cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LVMKIT_LOG").unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new(if cli.quiet { "warn" } else { "info" })
            }),
        )
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .without_time()
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = cli::dispatch(cli.command) {
        // A library names the setting that caused an error by its field; here it is a flag.
        match lvmkit_io::setting_of(&e) {
            Some(field) => eprintln!("error: --{}: {e:#}", field.replace('_', "-")),
            None => eprintln!("error: {e:#}"),
        }
        // `exit` runs no destructors: whatever the error holds (a temporary file) goes first.
        drop(e);
        std::process::exit(1);
    }
}
