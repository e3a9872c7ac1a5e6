//! The periodic ValidateSession sweep (`portal.validate_interval`): started when the portal and
//! the interval are both set (at start or by a reload), ended when either goes off.

use super::Daemon;
use crate::ocserv::ctl::{Client, DEFAULT_TIMEOUT};
use async_io::Timer;
use std::rc::Rc;

impl Daemon {
    pub(super) fn start_validation(self: &Rc<Self>) {
        let wanted = |d: &Daemon| {
            let c = d.config();
            c.portal.enabled && !c.portal.validate_interval.is_zero()
        };
        if !wanted(self) || self.validation_running.get() {
            return;
        }
        self.validation_running.set(true);
        let daemon = Rc::downgrade(self);
        self.executor
            .spawn(async move {
                loop {
                    let Some(interval) = daemon
                        .upgrade()
                        .map(|d| d.config().portal.validate_interval)
                    else {
                        return;
                    };
                    Timer::after(interval).await;
                    let Some(d) = daemon.upgrade() else { return };
                    if !wanted(&d) {
                        d.validation_running.set(false);
                        return;
                    }
                    let config = d.config();
                    let Some(channel) = d.engine.portal() else {
                        continue;
                    };
                    drop(d);
                    let ctl = Client::new(
                        crate::ocserv::conf::ctl_socket(&config.ocserv),
                        DEFAULT_TIMEOUT,
                    );
                    let revoke = super::decide::revoker(&daemon);
                    let sessions = daemon.clone();
                    let trace_of =
                        move |id| sessions.upgrade().and_then(|d| d.engine.session_trace(id));
                    match crate::portal::validate::sweep(
                        &channel,
                        &ctl,
                        config.portal.timeout,
                        &*revoke,
                        &trace_of,
                    )
                    .await
                    {
                        Ok(s) if s.ended > 0 || s.unanswered > 0 => log::info!(
                            "validate: {} session(s) checked, {} ended, {} without an answer",
                            s.checked,
                            s.ended,
                            s.unanswered
                        ),
                        Ok(s) => {
                            log::debug!("validate: {} session(s) checked, all valid", s.checked)
                        }
                        Err(e) => log::warn!("validate: cannot list ocserv's sessions: {e}"),
                    }
                }
            })
            .detach();
    }
}
