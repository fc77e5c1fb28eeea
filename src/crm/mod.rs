//! crm (being written).
