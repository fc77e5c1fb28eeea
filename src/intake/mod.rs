//! intake (being written).
