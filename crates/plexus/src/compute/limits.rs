//! What one compute unit may use, and how a unit ends when it goes over
//! ([`UnitError`]). Limits travel with each unit request, so every copy of
//! a unit runs under the same ones and honest workers agree even on a
//! unit that fails.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Fuel granted per second of the time limit. Fuel counts WebAssembly
/// instructions (roughly one unit each); wasmi runs about 3e9 a second
/// on this project's CI machines, so a second of limit is about a third
/// of a second of work there and rarely more than a second on a slow
/// core. Fuel rather than a clock keeps the end of a unit the same on
/// every worker, fast or slow, so honest copies still agree.
pub const FUEL_PER_SECOND: u64 = 1_000_000_000;

/// One WebAssembly memory page.
pub const PAGE: u64 = 64 * 1024;

/// What a unit may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Instruction budget (fuel); see [`FUEL_PER_SECOND`].
    pub fuel: u64,
    /// Bytes of linear memory, in whole pages.
    pub memory_bytes: u64,
    /// Bytes of output at most.
    pub output_bytes: u64,
}

impl Limits {
    /// The defaults: 10 s of fuel, 64 MiB of memory, 1 MiB of output.
    pub const DEFAULT: Self = Self {
        fuel: 10 * FUEL_PER_SECOND,
        memory_bytes: 64 << 20,
        output_bytes: 1 << 20,
    };

    /// The fuel for a time limit of `time` (see [`FUEL_PER_SECOND`]).
    pub fn fuel_for(time: Duration) -> u64 {
        let millis = u64::try_from(time.as_millis()).unwrap_or(u64::MAX);
        millis.saturating_mul(FUEL_PER_SECOND / 1000).max(1)
    }

    /// The time limit `fuel` stands for, for messages.
    pub fn time_of(fuel: u64) -> Duration {
        Duration::from_millis(fuel / (FUEL_PER_SECOND / 1000))
    }

    /// Whether every limit of `self` is within `cap` (a worker refuses
    /// units that ask for more than it grants).
    pub fn within(&self, cap: &Limits) -> bool {
        self.fuel <= cap.fuel
            && self.memory_bytes <= cap.memory_bytes
            && self.output_bytes <= cap.output_bytes
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Why a unit ended without output. The same module, input and limits end
/// the same way on every honest worker, so errors are voted on like
/// outputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
pub enum UnitError {
    /// The bytes are not a valid WebAssembly module.
    #[error("not a valid WebAssembly module: {0}")]
    Invalid(String),
    /// The module imports something; units are offered no imports at all
    /// (no file system, network, clock or host calls).
    #[error("the module imports {0}, but compute units get no imports at all (no files, network, clock or host functions); build it to use only its own memory and the ABI exports")]
    Imports(String),
    /// An export the ABI needs is missing or has the wrong type.
    #[error("the module does not follow the compute ABI: {0} (it must export `memory`, `alloc(i32) -> i32` and `run(i32, i32) -> i64`)")]
    Abi(String),
    /// The instruction budget ran out: an endless loop, or more work than
    /// one unit may do.
    #[error("ran out of fuel: used its whole budget of {fuel} instructions (a time limit of about {secs:.1}s); an endless loop, or split the work into more units")]
    OutOfFuel {
        /// The budget.
        fuel: u64,
        /// The time limit it stands for, in seconds.
        secs: f64,
    },
    /// Memory would have grown past the limit.
    #[error("went over the memory limit of {limit} bytes ({pages} pages of 64 KiB)")]
    OutOfMemory {
        /// The limit in bytes.
        limit: u64,
        /// The limit in pages.
        pages: u64,
    },
    /// The module trapped (unreachable, division by zero, out-of-bounds
    /// access...).
    #[error("trapped: {0}")]
    Trap(String),
    /// The output is larger than allowed.
    #[error("output of {len} bytes is over the output limit of {limit} bytes")]
    OutputTooLarge {
        /// The output's length.
        len: u64,
        /// The limit.
        limit: u64,
    },
    /// `run` returned an output range outside the module's memory.
    #[error("returned an output range (pointer {ptr}, {len} bytes) outside its memory")]
    BadOutput {
        /// The returned pointer.
        ptr: u32,
        /// The returned length.
        len: u32,
    },
}
