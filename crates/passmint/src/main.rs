//! passmint: a self-hosted Apple Wallet pass server, and offline tools for pass templates.
#![forbid(unsafe_code)]

mod offline;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "passmint", version, about = "Self-hosted Apple Wallet pass server")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check a template folder or .zip offline and print every problem.
    Lint(offline::LintArgs),
    /// Sign a template into a .pkpass offline.
    Sign(offline::SignArgs),
    /// Write a throwaway root -> WWDR -> pass type certificate chain (NOT FOR PRODUCTION).
    DevCerts(offline::DevCertsArgs),
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Lint(args) => offline::lint(&args),
        Command::Sign(args) => offline::sign(&args),
        Command::DevCerts(args) => offline::dev_certs(&args),
    };
    result.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        ExitCode::FAILURE
    })
}
