//! transcript (being written).
