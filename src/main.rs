//! `img-authz`: the command line, one file per subcommand under `cli/`.
//! All logic lives in the library.

mod cli;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use cli::{check::CheckArgs, policy::PolicyCommand, runtime, serve::ServeArgs, DEFAULT_SOCKET};

#[derive(Parser)]
#[command(
    name = "img-authz",
    version,
    about = "Docker authorization plugin: only trusted images run"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the plugin on a unix socket (or on the socket systemd passes).
    Serve(Box<ServeArgs>),
    /// Ask a running plugin whether it answers, what it loaded, and its cache figures.
    Status {
        #[arg(long, env = "IMG_AUTHZ_SOCKET", default_value = DEFAULT_SOCKET)]
        socket: PathBuf,
        /// Print the raw JSON.
        #[arg(long)]
        json: bool,
    },
    /// Would a pull of IMAGE and a create of a container from it (default
    /// settings, hardening included) be allowed, and why? The create needs
    /// dockerd (DOCKER_HOST); without it, it is reported as not checked.
    /// Or decide an AuthZReq call from a file. Exit code 0 allow, 1 deny, 2 error.
    Check(Box<CheckArgs>),
    /// Policy file tools.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Signed policy bundles for fleets: publish one, or fetch and verify it.
    Bundle {
        #[command(subcommand)]
        command: cli::bundle::BundleCommand,
    },
    /// Print the version.
    Version,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Version => {
            println!("img-authz {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::Status { socket, json } => runtime().map_or(ExitCode::FAILURE, |rt| {
            rt.block_on(cli::status::status(&socket, json))
        }),
        Command::Serve(args) => cli::serve::serve(*args),
        Command::Check(args) => cli::check::check(*args),
        Command::Policy { command } => cli::policy::run(command),
        Command::Bundle { command } => cli::bundle::run(command),
    }
}
