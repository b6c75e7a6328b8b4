//! The `manifold` binary: parses the command line and hands it to [`manifold::cli`].

use clap::Parser as _;

#[tokio::main]
async fn main() {
    let cli = manifold::cli::Cli::parse();
    let code = manifold::cli::run(cli).await;
    std::process::exit(code);
}
