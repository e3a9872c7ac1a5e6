//! The firmware files in rootfs/: installed into a temporary root, the uci-defaults script run
//! (twice, and on awkward existing files), the shipped config checked by the installed binary.

mod common;

use common::{bin, command, TempDir};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

const ROOTFS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/rootfs");
const HOOK: &str = "/usr/libexec/ocserv-agent/hook";

/// Copies a tree, keeping file modes, as the image build does.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A root with rootfs/ and the binary at /usr/sbin/ocserv-agent. The binary is linked, not
/// copied: a copy being written while another test thread forks can fail to exec (ETXTBSY).
fn install(name: &str) -> TempDir {
    let root = TempDir::new(name);
    copy_tree(Path::new(ROOTFS), &root.0);
    std::fs::create_dir_all(root.path("usr/sbin")).unwrap();
    std::os::unix::fs::symlink(bin(), root.path("usr/sbin/ocserv-agent")).unwrap();
    root
}

fn run_uci_defaults(root: &TempDir) -> String {
    let out = Command::new("sh")
        .arg(root.path("etc/uci-defaults/90-ocserv-agent"))
        .env("IPKG_INSTROOT", &root.0)
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .output()
        .unwrap();
    assert!(out.status.success(), "uci-defaults failed: {out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn conf_local(root: &TempDir) -> String {
    std::fs::read_to_string(root.path("etc/ocserv/ocserv.conf.local")).unwrap()
}

fn is_executable(p: &Path) -> bool {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o111 == 0o111
}

#[test]
fn the_image_has_every_file_with_the_right_mode() {
    let root = install("files");
    for exe in [
        "usr/sbin/ocserv-agent",
        "etc/init.d/ocserv-agent",
        "etc/uci-defaults/90-ocserv-agent",
        "usr/libexec/ocserv-agent/hook",
    ] {
        assert!(is_executable(&root.path(exe)), "{exe} is not executable");
    }
    let keep = std::fs::read_to_string(root.path("lib/upgrade/keep.d/ocserv-agent")).unwrap();
    assert!(
        keep.lines().any(|l| l == "/etc/config/ocserv-agent"),
        "{keep}"
    );
    assert!(keep.lines().any(|l| l == "/etc/ocserv-agent/"), "{keep}");
    // Every shell file parses.
    for script in [
        "etc/init.d/ocserv-agent",
        "etc/uci-defaults/90-ocserv-agent",
        "usr/libexec/ocserv-agent/hook",
    ] {
        let st = Command::new("sh")
            .arg("-n")
            .arg(root.path(script))
            .status()
            .unwrap();
        assert!(st.success(), "{script} does not parse");
    }
}

#[test]
fn the_hook_wrapper_is_sh_and_execs_the_binary() {
    let text =
        std::fs::read_to_string(Path::new(ROOTFS).join(HOOK.trim_start_matches('/'))).unwrap();
    assert!(text.starts_with("#!/bin/sh\n"), "{text}");
    assert!(
        text.lines()
            .any(|l| l == "exec /usr/sbin/ocserv-agent hook -c /etc/config/ocserv-agent"),
        "{text}"
    );
}

#[test]
fn the_init_script_is_a_procd_service_with_reload() {
    let text = std::fs::read_to_string(Path::new(ROOTFS).join("etc/init.d/ocserv-agent")).unwrap();
    for needle in [
        "#!/bin/sh /etc/rc.common",
        "USE_PROCD=1",
        "procd_set_param command \"$PROG\" run -c \"$CONF\"",
        "procd_set_param respawn",
        "procd_set_param stderr 1",
        "procd_set_param reload_signal HUP",
        "procd_add_reload_trigger \"ocserv-agent\"",
    ] {
        assert!(text.contains(needle), "init script lacks {needle:?}");
    }
}

#[test]
fn the_installed_binary_accepts_the_shipped_config() {
    let root = install("check");
    let out = command(&root.path("usr/sbin/ocserv-agent"))
        .args(["check-config", "-c"])
        .arg(root.path("etc/config/ocserv-agent"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ocserv-agent.main=agent"));
}

#[test]
fn uci_defaults_creates_the_fragment_and_is_idempotent() {
    let root = install("uci-defaults");
    run_uci_defaults(&root);
    let first = conf_local(&root);
    assert_eq!(
        first,
        format!("connect-script = {HOOK}\ndisconnect-script = {HOOK}\n")
    );
    run_uci_defaults(&root);
    assert_eq!(conf_local(&root), first, "a second run changed the file");
}

#[test]
fn uci_defaults_keeps_existing_lines_and_never_glues_onto_them() {
    let root = install("uci-existing");
    std::fs::create_dir_all(root.path("etc/ocserv")).unwrap();
    // No newline at the end, our disconnect line written without spaces, a commented line.
    std::fs::write(
        root.path("etc/ocserv/ocserv.conf.local"),
        format!(
            "# local additions\n#connect-script = /old\nmax-clients = 8\ndisconnect-script={HOOK}"
        ),
    )
    .unwrap();
    run_uci_defaults(&root);
    assert_eq!(
        conf_local(&root),
        format!("# local additions\n#connect-script = /old\nmax-clients = 8\ndisconnect-script={HOOK}\nconnect-script = {HOOK}\n")
    );
}

#[test]
fn uci_defaults_leaves_a_foreign_connect_script_alone_and_says_so() {
    let root = install("uci-foreign");
    std::fs::create_dir_all(root.path("etc/ocserv")).unwrap();
    std::fs::write(
        root.path("etc/ocserv/ocserv.conf.local"),
        "connect-script = /usr/bin/other\n",
    )
    .unwrap();
    let said = run_uci_defaults(&root);
    assert_eq!(
        conf_local(&root),
        format!("connect-script = /usr/bin/other\ndisconnect-script = {HOOK}\n")
    );
    assert!(
        said.contains("connect-script = /usr/bin/other; leaving it"),
        "{said}"
    );
    // No temporary file is left behind.
    let names: Vec<_> = std::fs::read_dir(root.path("etc/ocserv"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
}
