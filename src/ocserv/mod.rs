//! ocserv itself: its control socket (ctl.rs), the settings read from its ocserv.conf
//! (conf.rs), and occtl's output formats (occtl_fmt.rs).

pub mod conf;
pub mod ctl;
pub mod occtl_fmt;
