//! The `manifold` binary: parses the command line and hands it to [`manifold::cli`].

#[tokio::main]
async fn main() {
    let cli = manifold::cli::parse();
    let code = manifold::cli::run(cli).await;
    std::process::exit(code);
}
