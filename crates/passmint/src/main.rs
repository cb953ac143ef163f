//! The `passmint` command: parses the command line and calls into the library.
#![forbid(unsafe_code)]

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use passmint::config::{self, Layer, Secret};

#[derive(Parser)]
#[command(name = "passmint", version, about = "Self-hosted Apple Wallet pass server")]
struct Cli {
    /// TOML configuration file (also PASSMINT_CONFIG).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory (PASSMINT_DATA_DIR).
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// sqlite://… or postgres://… (PASSMINT_DATABASE_URL).
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server.
    Serve {
        /// Address to bind (PASSMINT_LISTEN).
        #[arg(long)]
        listen: Option<String>,
        /// External base URL (PASSMINT_PUBLIC_URL).
        #[arg(long)]
        public_url: Option<String>,
    },
    /// Apply database migrations and exit.
    Migrate,
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
        /// A note to remember what the token is for.
        #[arg(long)]
        label: Option<String>,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let mut flags = Layer {
        data_dir: cli.data_dir.clone(),
        database_url: cli.database_url.clone().map(Secret::new),
        ..Layer::default()
    };
    if let Command::Serve { listen, public_url } = &cli.command {
        flags.listen.clone_from(listen);
        flags.public_url.clone_from(public_url);
    }
    let settings = match config::load(cli.config.as_deref(), |k| std::env::var(k).ok(), flags) {
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
            Command::Migrate => passmint::cli::migrate(settings).await,
            Command::Token {
                action: TokenAction::Create { label },
            } => passmint::cli::create_token(settings, label)
                .await
                .map(|token| println!("{token}")),
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("passmint: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
