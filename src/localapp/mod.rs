//! The portal's local application (Open Lines bridge, `bitrix24-apps.md` §1): its OAuth grant,
//! kept in the state database and refreshed single flight, for the app-context calls an
//! inbound webhook may not make (`imconnector.*`, `event.*`).

mod keeper;

pub use keeper::StoredGrant;
