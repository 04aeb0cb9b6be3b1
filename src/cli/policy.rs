//! `img-authz policy`: policy file tools.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

#[derive(Subcommand)]
pub enum PolicyCommand {
    /// Validate a policy file; every error is reported with its location.
    Validate {
        /// The policy file.
        file: PathBuf,
    },
}

pub fn run(command: PolicyCommand) -> ExitCode {
    match command {
        PolicyCommand::Validate { file } => match img_authz::decide::file::load(&file) {
            Ok(f) => {
                println!(
                    "{}: valid ({} rule(s){})",
                    file.display(),
                    f.rules.len(),
                    if f.hardening.is_some() {
                        ", hardening"
                    } else {
                        ""
                    }
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                eprintln!("{} error(s)", e.errors.len());
                ExitCode::FAILURE
            }
        },
    }
}
