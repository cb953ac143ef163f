//! The `passmint` command: parses the command line and calls into the library.
#![forbid(unsafe_code)]

mod offline;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use passmint::config::{self, Layer, Secret};

#[derive(Parser)]
#[command(name = "passmint", version, about = "Self-hosted Apple Wallet pass server")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where the server's configuration and data are (for `serve`, `migrate`, `token`).
#[derive(Args, Clone, Default)]
struct ServerArgs {
    /// TOML configuration file (also PASSMINT_CONFIG).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory (PASSMINT_DATA_DIR).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// sqlite://… or postgres://… (PASSMINT_DATABASE_URL).
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server.
    Serve {
        #[command(flatten)]
        server: ServerArgs,
        /// Address to bind (PASSMINT_LISTEN).
        #[arg(long)]
        listen: Option<String>,
        /// External base URL (PASSMINT_PUBLIC_URL).
        #[arg(long)]
        public_url: Option<String>,
    },
    /// Apply database migrations and exit.
    Migrate {
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Check a template (folder or .zip) or a signed .pkpass offline and print every problem.
    Lint(offline::LintArgs),
    /// Sign a template into a .pkpass offline.
    Sign(offline::SignArgs),
    /// Write a throwaway root -> WWDR -> pass type certificate chain (NOT FOR PRODUCTION).
    DevCerts(offline::DevCertsArgs),
    /// Manage admin API tokens.
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
}

#[derive(Subcommand)]
enum TokenAction {
    /// Print a new admin API token (only its hash is stored).
    Create {
        #[command(flatten)]
        server: ServerArgs,
        /// A note to remember what the token is for.
        #[arg(long)]
        label: Option<String>,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // The offline tools need no configuration, database or runtime.
    let offline = match &cli.command {
        Command::Lint(args) => Some(offline::lint(args)),
        Command::Sign(args) => Some(offline::sign(args)),
        Command::DevCerts(args) => Some(offline::dev_certs(args)),
        _ => None,
    };
    if let Some(result) = offline {
        return result.unwrap_or_else(|e| {
            eprintln!("error: {}", error_text(&e));
            std::process::ExitCode::FAILURE
        });
    }
    let server = match &cli.command {
        Command::Serve { server, .. }
        | Command::Migrate { server }
        | Command::Token {
            action: TokenAction::Create { server, .. },
        } => server.clone(),
        _ => ServerArgs::default(),
    };
    let mut flags = Layer {
        data_dir: server.data_dir.clone(),
        database_url: server.database_url.clone().map(Secret::new),
        ..Layer::default()
    };
    if let Command::Serve {
        listen, public_url, ..
    } = &cli.command
    {
        flags.listen.clone_from(listen);
        flags.public_url.clone_from(public_url);
    }
    let settings = match config::load(server.config.as_deref(), |k| std::env::var(k).ok(), flags) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("passmint: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("passmint: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve { .. } => passmint::cli::serve(settings).await,
            Command::Migrate { .. } => passmint::cli::migrate(settings).await,
            Command::Token {
                action: TokenAction::Create { label, .. },
            } => passmint::cli::create_token(settings, label)
                .await
                .map(|token| println!("{token}")),
            Command::Lint(_) | Command::Sign(_) | Command::DevCerts(_) => Ok(()),
        }
    });
    // Whatever still runs (a render on the blocking pool, a stalled connection's task) gets a
    // moment, not a veto: `serve` already waited out its shutdown grace period.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("passmint: {}", error_text(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

/// The error and its causes, each said once: many error types repeat their cause in their own
/// message, and `{:#}` would print it again.
fn error_text(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        if text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}
