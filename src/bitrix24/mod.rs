//! bitrix24 (being written).
