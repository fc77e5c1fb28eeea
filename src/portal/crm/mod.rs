//! CRM routing: which portal entity a request's transcript goes to, found or created by the
//! seed app's rules (find by phone first, never a duplicate; new entities get the configured
//! source and a responsible; a closed lead that gets a new request is reopened).

mod creation;
mod fair;
pub mod field_cache;
pub mod fields;
mod line_lead;
mod lookup;
pub mod phone;
mod responsible;
mod routing;

pub use creation::{Created, Creation};
pub use responsible::{Choice, Responsibles};
pub use routing::{
    reopen_fields, ClientFacts, EntityRef, Known, Plan, Reopen, Routed, Router, ORIGINATOR,
};
