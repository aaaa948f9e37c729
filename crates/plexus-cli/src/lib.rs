//! The API's request and response bodies as a small library, so the fuzz
//! targets (`fuzz/`) and the corpus replay test can decode them as the
//! daemon does. The `plexus` binary uses them from here. Not an API.

#![deny(missing_docs)]

#[doc(hidden)]
#[path = "api/types.rs"]
pub mod api_types;
#[doc(hidden)]
pub mod fuzz;
