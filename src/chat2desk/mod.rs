//! chat2desk (being written).
