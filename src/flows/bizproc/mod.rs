//! The business-process action «Написать сообщение на номер»: the call the portal's activity
//! makes (`POST /bizproc/send`, in the shape Bitrix uses for a REST activity), and the PHP
//! activity itself, embedded in the binary for `bizproc install`.
//!
//! A boxed portal never calls an application's handler itself (its pushes go through
//! Bitrix's cloud), so a small PHP activity posts the call to the daemon over the LAN; the
//! daemon sends the message durably and completes the activity with `bizproc.event.send`
//! through the inbound webhook (`bitrix24-apps.md` §4, §5).
//!
//! Here: the route (`route`), the call's shape (`call`), the send job (`send`,
//! `send_progress`) and the activity's files (`activity`).

mod activity;
mod call;
mod job;
mod route;
mod send;
mod send_progress;

pub use activity::{
    install, uninstall, ActivityFile, ActivitySettings, InstallReport, ACTIVITY_CODE, FILES,
};
pub use call::{CallError, SendCall, CODE};
pub use job::SendJob;
pub use route::BizprocRoute;
pub use send::SendRules;
pub use send_progress::SendProgress;
