//! `lvmkit`: one binary for latent vector models. Each subcommand is a thin layer over the
//! library crate of its pipeline stage (corpus, encode, dataset).

mod cli;
mod commands;
mod fetch;

use clap::Parser;
use std::io::IsTerminal;

fn main() {
    let cli = cli::Cli::parse();
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
    if let Err(e) = commands::dispatch(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
