//! `agent.v1.AgentService/UpdateConfig`: replaces one per-user or per-group ocserv config file,
//! or the agent's own block inside the main-config fragment (`ocserv.local_conf`, see
//! `ocserv/fragment.rs`: every other line of that file, the hook's `connect-script` lines
//! included, is kept byte for byte), then puts it in force: on OpenWrt `init_script reload`
//! re-renders ocserv.conf with the fragment, then ocserv's RELOAD re-reads it.
//!
//! `config_content` is either ocserv's own `key = value` lines or the JSON object the Go agent
//! took (see [`Content`]); both end up as the same checked directives (`ocserv/conffile.rs`:
//! names that become paths are checked, keys come from an allow-list, values are checked per
//! key). Nothing is invented: the file holds exactly what was sent. Allow-listed clients only.

use crate::config::Ocserv;
use crate::grpc::server::Router;
use crate::grpc::{Code, Status};
use crate::ocserv::conf::ctl_socket;
use crate::ocserv::conffile::{self, ConfError, Directive};
use crate::ocserv::ctl::{Client, DEFAULT_TIMEOUT};
use crate::ocserv::fragment;
use crate::ocserv::initscript::{self, Reloaded};
use crate::ocserv::version;
use crate::proto::agent::v1::{ConfigType, ConfigUpdateRequest, ConfigUpdateResponse};
use crate::trace::{self, TraceParent};
use bytes::Bytes;
use prost::Message;
use std::path::{Path, PathBuf};
use std::rc::Rc;

pub const UPDATE_CONFIG: &str = "/agent.v1.AgentService/UpdateConfig";

/// Registers the method; `ocserv` gives the `config ocserv` section in force.
pub fn register(router: &mut Router, ocserv: Rc<dyn Fn() -> Ocserv>) {
    router.unary(UPDATE_CONFIG, move |call, message| {
        let settings = ocserv();
        async move {
            call.require_allowed()?;
            let req = ConfigUpdateRequest::decode(message)
                .map_err(|e| Status::new(Code::Internal, format!("undecodable request: {e}")))?;
            let reply = update_config(&settings, req, trace::incoming(&call.metadata)).await?;
            Ok(Bytes::from(reply.encode_to_vec()))
        }
    });
}

/// Its own module: nanoserde's derive expands `Option` fields into code that clippy would
/// rather see written with `?`, and an allow on the struct does not reach the generated impl.
mod content {
    #![allow(clippy::question_mark)]
    use nanoserde::DeJson;
    use std::collections::BTreeMap;

    /// The JSON form of `config_content`, as the Go agent took it. Every field is optional; a key
    /// not listed here is refused by name (not skipped).
    ///
    /// ```json
    /// {"routes": ["10.10.0.0/16"], "dns": ["10.10.0.53"], "split_dns": ["corp.example"],
    ///  "max_same_clients": 2, "restrict_user_to_routes": true,
    ///  "custom_directives": {"idle-timeout": "600"}}
    /// ```
    /// `routes` → `route`, `dns` → `dns`, `split_dns` → `split-dns`, `max_same_clients` →
    /// `max-same-clients`, `restrict_user_to_routes` → `restrict-user-to-routes`; each
    /// `custom_directives` entry is one more `key = value` line, its key from the same allow-list.
    #[derive(DeJson, Debug, Default)]
    pub struct Content {
        #[nserde(default)]
        pub routes: Vec<String>,
        #[nserde(default)]
        pub dns: Vec<String>,
        #[nserde(default)]
        pub split_dns: Vec<String>,
        pub max_same_clients: Option<u32>,
        pub restrict_user_to_routes: Option<bool>,
        #[nserde(default)]
        pub custom_directives: BTreeMap<String, String>,
    }
}
use content::Content;

const CONTENT_KEYS: &[&str] = &[
    "routes",
    "dns",
    "split_dns",
    "max_same_clients",
    "restrict_user_to_routes",
    "custom_directives",
];

/// `config_content` as checked directives: JSON when it starts with `{`, else ocserv's lines.
pub(crate) fn directives(content: &str) -> Result<Vec<Directive>, String> {
    let text = content.trim_start();
    if !text.starts_with('{') {
        return conffile::parse(text).map_err(|e| e.to_string());
    }
    let keys = crate::json::object_keys(text).map_err(|e| format!("not valid JSON: {e}"))?;
    if let Some(k) = keys.iter().find(|k| !CONTENT_KEYS.contains(k)) {
        return Err(format!(
            "unknown field \"{}\" (known: {})",
            k.escape_default(),
            CONTENT_KEYS.join(", ")
        ));
    }
    let c: Content = crate::json::decode(text).map_err(|e| format!("JSON content: {e}"))?;
    let mut out = Vec::new();
    let mut add = |key: &str, value: &str| -> Result<(), ConfError> {
        out.push(conffile::directive(key, value)?);
        Ok(())
    };
    let mut fill = || -> Result<(), ConfError> {
        for r in &c.routes {
            add("route", r)?;
        }
        for d in &c.dns {
            add("dns", d)?;
        }
        for d in &c.split_dns {
            add("split-dns", d)?;
        }
        if let Some(n) = c.max_same_clients {
            add("max-same-clients", &n.to_string())?;
        }
        if let Some(b) = c.restrict_user_to_routes {
            add("restrict-user-to-routes", if b { "true" } else { "false" })?;
        }
        for (k, v) in &c.custom_directives {
            add(k, v)?;
        }
        Ok(())
    };
    fill().map_err(|e| e.to_string())?;
    Ok(out)
}

/// Which file a request names, and where its backup goes.
struct Target {
    dir: PathBuf,
    name: String,
    backup_dir: PathBuf,
    /// "user 'alice'", "group 'staff'", "the main config fragment".
    what: String,
    main: bool,
}

fn target(settings: &Ocserv, req: &ConfigUpdateRequest) -> Result<Target, Status> {
    let invalid = |m: String| Status::new(Code::InvalidArgument, m);
    let checked = |name: &str| conffile::check_name(name).map_err(|e| invalid(e.to_string()));
    match ConfigType::try_from(req.config_type) {
        Ok(ConfigType::PerUser) => {
            checked(&req.config_name)?;
            Ok(Target {
                dir: settings.per_user_dir.clone(),
                name: req.config_name.clone(),
                backup_dir: settings.backup_dir.clone(),
                what: format!("user '{}'", req.config_name),
                main: false,
            })
        }
        Ok(ConfigType::PerGroup) => {
            checked(&req.config_name)?;
            Ok(Target {
                dir: settings.per_group_dir.clone(),
                name: req.config_name.clone(),
                backup_dir: settings.backup_dir.join("groups"),
                what: format!("group '{}'", req.config_name),
                main: false,
            })
        }
        Ok(ConfigType::Main) => {
            let path = &settings.local_conf;
            let (Some(dir), Some(name)) =
                (path.parent(), path.file_name().and_then(|n| n.to_str()))
            else {
                return Err(Status::new(
                    Code::FailedPrecondition,
                    format!("ocserv.local_conf {} is not a file path", path.display()),
                ));
            };
            if !req.config_name.is_empty() && req.config_name != name {
                return Err(invalid(format!(
                    "CONFIG_TYPE_MAIN edits only {} (config_name empty or '{name}'), not '{}'",
                    path.display(),
                    req.config_name.escape_default()
                )));
            }
            Ok(Target {
                dir: dir.to_path_buf(),
                name: name.to_string(),
                backup_dir: settings.backup_dir.join("main"),
                what: "the main config fragment".into(),
                main: true,
            })
        }
        Ok(ConfigType::Unspecified) | Err(_) => Err(invalid(format!(
            "config_type {} is not CONFIG_TYPE_MAIN, CONFIG_TYPE_PER_USER or CONFIG_TYPE_PER_GROUP",
            req.config_type
        ))),
    }
}

/// Validates and (unless `validate_only`) writes; a content problem is an answer with
/// `success: false` and the reason in `validation_result`, a malformed request an error status.
/// `trace`: the caller's `traceparent`, continued in the log line.
pub async fn update_config(
    settings: &Ocserv,
    req: ConfigUpdateRequest,
    trace: Option<TraceParent>,
) -> Result<ConfigUpdateResponse, Status> {
    let target = target(settings, &req)?;
    let mut reply = ConfigUpdateResponse {
        request_id: req.request_id.clone(),
        ..ConfigUpdateResponse::default()
    };
    let checked = directives(&req.config_content).and_then(|d| {
        if target.main {
            conffile::check_main(&d).map_err(|e| e.to_string())?;
        } else {
            conffile::check_per_user(&d).map_err(|e| e.to_string())?;
        }
        Ok(d)
    });
    // What the running ocserv reads; when its version cannot be had, the reply says so.
    let version = match &checked {
        Ok(_) => version::running(&Client::new(ctl_socket(settings), DEFAULT_TIMEOUT)).await,
        Err(_) => None,
    };
    let checked = checked.and_then(|d| match version {
        Some(v) => conffile::check_version(&d, v)
            .map(|()| d)
            .map_err(|e| e.to_string()),
        None => Ok(d),
    });
    let lines = match checked {
        Ok(lines) => lines,
        Err(why) => {
            reply.validation_result = format!("invalid: {why}");
            reply.error_message = why;
            return Ok(reply);
        }
    };
    reply.validation_result = format!(
        "valid: {} line(s) for {} ({})",
        lines.len(),
        target.what,
        version.map_or_else(
            || "ocserv's version unknown: not checked against it".to_string(),
            |v| format!("checked against ocserv {v}")
        )
    );
    let text = if target.main {
        match main_text(settings, &lines) {
            Ok(text) => {
                reply.validation_result = format!(
                    "{}; {} {} hold:\n{}",
                    reply.validation_result,
                    settings.local_conf.display(),
                    if req.validate_only {
                        "would"
                    } else {
                        "will now"
                    },
                    fragment::excerpt(&text)
                );
                text
            }
            Err(why) => {
                reply.validation_result = format!("invalid: {why}");
                reply.error_message = why;
                return Ok(reply);
            }
        }
    } else {
        conffile::render(&lines)
    };
    if req.validate_only {
        reply.success = true;
        return Ok(reply);
    }
    // Backup, temp file, fsync, rename: on the disk thread (flash can take a while).
    let (dir, name, backup_dir) = (
        target.dir.clone(),
        target.name.clone(),
        target.backup_dir.clone(),
    );
    let (create_backup, keep) = (req.create_backup, settings.backup_keep);
    let written = crate::offload::run(move || {
        let backup = create_backup.then_some(conffile::Backup {
            dir: &backup_dir,
            keep,
        });
        conffile::replace(&dir, &name, &text, backup)
    })
    .await;
    let written = match written {
        Ok(Ok(w)) => w,
        Ok(Err(e)) => {
            reply.error_message = e.to_string();
            return Ok(reply);
        }
        Err(busy) => {
            reply.error_message = format!("not written: {busy}");
            return Ok(reply);
        }
    };
    log::info!(
        "grpc: wrote {} for {} ({} line(s){}){}",
        written.path.display(),
        target.what,
        lines.len(),
        written
            .backup
            .as_ref()
            .map_or_else(String::new, |b| format!(", backup {}", b.display())),
        trace::note(trace.map(|t| t.trace))
    );
    reply.backup_path = written
        .backup
        .as_deref()
        .map_or_else(String::new, path_text);
    reply.success = true;
    if target.main {
        if let Err(why) = put_in_force(settings).await {
            reply.success = false;
            reply.error_message = format!("{} written; {why}", written.path.display());
        }
    }
    Ok(reply)
}

/// The fragment as it is to be: the file as it is now, with the agent's block set to `lines`.
fn main_text(settings: &Ocserv, lines: &[Directive]) -> Result<String, String> {
    let path = &settings.local_conf;
    let existing = match crate::fsutil::read_nofollow(path) {
        Ok(bytes) => String::from_utf8(bytes)
            .map_err(|_| format!("{} is not UTF-8 text; not touched", path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    fragment::splice(&existing, lines).map_err(|e| format!("{}: {e}", path.display()))
}

/// Makes ocserv take the fragment: OpenWrt's init script re-renders its config (when there is
/// one), then RELOAD over the control socket re-reads it.
async fn put_in_force(settings: &Ocserv) -> Result<(), String> {
    match initscript::reload(&settings.init_script, initscript::TIMEOUT).await {
        Reloaded::NoScript | Reloaded::Done => {}
        Reloaded::Failed(why) => return Err(format!("{why}; ocserv was not reloaded")),
    }
    let client = Client::new(ctl_socket(settings), DEFAULT_TIMEOUT);
    match client.reload().await {
        Ok(true) => Ok(()),
        Ok(false) => Err("ocserv refused to reload".into()),
        Err(e) => Err(format!("ocserv did not reload: {e}")),
    }
}

fn path_text(p: &Path) -> String {
    p.display().to_string()
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
