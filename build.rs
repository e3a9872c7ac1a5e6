//! Records build facts that `ocserv-agent version` prints: the target triple and the
//! enabled cargo features. Cargo only tells a build script these, not the crate.

fn main() {
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=OCSERV_AGENT_TARGET={target}");
    let mut features: Vec<String> = std::env::vars()
        .filter_map(|(k, _)| k.strip_prefix("CARGO_FEATURE_").map(|f| f.to_lowercase()))
        .collect();
    features.sort();
    let features = if features.is_empty() {
        "none".to_string()
    } else {
        features.join(",")
    };
    println!("cargo:rustc-env=OCSERV_AGENT_FEATURES={features}");
    println!("cargo:rerun-if-changed=build.rs");
}
