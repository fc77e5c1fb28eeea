//! sync (being written).
