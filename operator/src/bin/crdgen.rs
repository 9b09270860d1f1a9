//! `crdgen`: prints the RelayNode CustomResourceDefinition as YAML, or with `--write` writes it
//! to `crds/relaynode.yaml`, `charts/oxidize/crds/relaynode.yaml` and
//! `deploy/crd/relaynode.yaml` under the given root.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let yaml = oxidize_crds::crd::crd_yaml()?;
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        None => print!("{yaml}"),
        Some("--write") => {
            let root = std::path::PathBuf::from(args.next().unwrap_or_else(|| ".".into()));
            for rel in oxidize_crds::crd::CRD_PATHS {
                let path = root.join(rel);
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                std::fs::write(&path, &yaml)?;
                eprintln!("wrote {}", path.display());
            }
        }
        Some(other) => {
            return Err(
                format!("unknown argument {other:?}; usage: crdgen [--write [ROOT]]").into(),
            )
        }
    }
    Ok(())
}
