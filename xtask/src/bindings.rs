//! Bindings chores (placeholder until gridwork-ffi exists).

pub fn generate() -> Result<std::path::PathBuf, String> {
    Err("bindings are not built yet".into())
}

pub fn test() -> Result<(), String> {
    eprintln!("xtask: no bindings crate yet; skipping binding tests");
    Ok(())
}
