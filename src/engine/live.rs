//! A live value: what the last reload left, read at the moment it is needed (a job's start,
//! a request's routing), never a copy kept from the start.

use std::sync::Arc;

/// Reads the value in force now.
pub struct Live<T>(Arc<dyn Fn() -> Arc<T> + Send + Sync>);

impl<T> Live<T> {
    /// The value `read` gives each time (typically one part of the app's rules).
    pub fn new(read: impl Fn() -> Arc<T> + Send + Sync + 'static) -> Self {
        Self(Arc::new(read))
    }

    /// A value that never changes.
    pub fn fixed(value: T) -> Self
    where
        T: Send + Sync + 'static,
    {
        let value = Arc::new(value);
        Self::new(move || value.clone())
    }

    /// The value in force now.
    pub fn now(&self) -> Arc<T> {
        (self.0)()
    }
}

impl<T> Clone for Live<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T> std::fmt::Debug for Live<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Live")
    }
}
