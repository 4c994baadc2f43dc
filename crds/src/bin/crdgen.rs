//! Writes the platform's CustomResourceDefinitions to `manifests/crds/`.
//!
//! Run from anywhere in the workspace: `cargo run -p loyalty-crds --bin crdgen`.

use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default();
    let dir = workspace.join(loyalty_crds::generate::OUTPUT_DIR);
    std::fs::create_dir_all(&dir)?;
    for (name, yaml) in loyalty_crds::generate::crd_files() {
        let path = dir.join(name);
        std::fs::write(&path, yaml)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
