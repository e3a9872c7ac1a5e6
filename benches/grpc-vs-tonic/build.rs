fn main() {
    let proto = concat!(env!("CARGO_MANIFEST_DIR"), "/../../proto");
    let fds = protox::compile(["agent/v1/agent.proto"], [proto]).expect("protos compile");
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)
        .expect("tonic codegen");
    println!("cargo:rerun-if-changed={proto}");
}
