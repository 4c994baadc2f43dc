//! `kube-standin [--port N] [--kubeconfig PATH]`: serves the stand-in API server until Ctrl-C.

use std::path::PathBuf;

fn usage() -> ! {
    eprintln!("usage: kube-standin [--port N] [--kubeconfig PATH]");
    std::process::exit(2)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let mut port = 0u16;
    let mut kubeconfig: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => {
                port = args
                    .next()
                    .and_then(|p| p.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            "--kubeconfig" => {
                kubeconfig = Some(args.next().map(PathBuf::from).unwrap_or_else(|| usage()))
            }
            _ => usage(),
        }
    }
    let server = kube_standin::StandIn::start_on(port).await?;
    if let Some(path) = &kubeconfig {
        server.write_kubeconfig(path)?;
        println!("kubeconfig written to {}", path.display());
    }
    println!("kube-standin listening on {}", server.url());
    tokio::signal::ctrl_c().await?;
    Ok(())
}
